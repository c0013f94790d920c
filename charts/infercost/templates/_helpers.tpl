{{/* Chart name, truncated to the 63 characters a label value allows. */}}
{{- define "infercost.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Prefix of every resource name: the release name, unless it already holds the chart name. */}}
{{- define "infercost.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "infercost.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels that never change for a release: the pod selector. */}}
{{- define "infercost.selectorLabels" -}}
app.kubernetes.io/name: {{ include "infercost.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "infercost.labels" -}}
helm.sh/chart: {{ include "infercost.chart" . }}
{{ include "infercost.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: infercost
{{- end -}}

{{- define "infercost.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "infercost.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false: name an existing ServiceAccount" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* repository@digest when a digest is given (exact), else repository:tag. */}}
{{- define "infercost.image" -}}
{{- $img := .Values.image -}}
{{- if $img.digest -}}
{{- printf "%s@%s" $img.repository $img.digest -}}
{{- else -}}
{{- printf "%s:%s" $img.repository (default .Chart.AppVersion $img.tag) -}}
{{- end -}}
{{- end -}}

{{/* Arguments of `infercost run` (docs/architecture.md section 7). */}}
{{- define "infercost.args" -}}
- run
{{- if .Values.operator.watchNamespace }}
- --namespace={{ .Values.operator.watchNamespace }}
{{- else }}
- --all-namespaces
{{- end }}
- --liveness=http://0.0.0.0:{{ .Values.operator.livenessPort }}/healthz
{{- if .Values.operator.peering }}
- --peering={{ .Values.operator.peering }}
{{- end }}
{{- if .Values.operator.dryRun }}
- --dry-run
{{- end }}
{{- range .Values.operator.extraArgs }}
- {{ . | quote }}
{{- end }}
{{- end -}}

{{/* Where the Prometheus credentials Secret is mounted (files, not environment variables). */}}
{{- define "infercost.promAuthDir" -}}/var/run/secrets/infercost/prometheus-auth{{- end -}}
{{- define "infercost.promCADir" -}}/var/run/secrets/infercost/prometheus-ca{{- end -}}
