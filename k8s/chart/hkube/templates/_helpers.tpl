{{/* Names */}}
{{- define "hkube.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "hkube.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "hkube.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "hkube.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "hkube.secretName" -}}
{{- default (printf "%s-secret" (include "hkube.fullname" .)) .Values.secrets.existingSecret -}}
{{- end -}}

{{- define "hkube.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* Labels: `component` is passed as .component */}}
{{- define "hkube.selectorLabels" -}}
app.kubernetes.io/name: {{ include "hkube.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "hkube.labels" -}}
{{ include "hkube.selectorLabels" . }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* Settings every platform container reads */}}
{{- define "hkube.envFrom" -}}
- configMapRef:
    name: {{ include "hkube.fullname" . }}-config
- secretRef:
    name: {{ include "hkube.secretName" . }}
{{- end -}}

{{- define "hkube.podSpecCommon" -}}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
{{- range . }}
  - name: {{ . }}
{{- end }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* A platform container's common part: image, settings, security, a writable /tmp */}}
{{- define "hkube.containerCommon" -}}
image: {{ include "hkube.image" . }}
imagePullPolicy: {{ .Values.image.pullPolicy }}
envFrom:
  {{- include "hkube.envFrom" . | nindent 2 }}
securityContext:
  {{- toYaml .Values.securityContext | nindent 2 }}
{{- end -}}
