{{/* Chart name, or nameOverride. */}}
{{- define "athena.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Release-qualified name; fullnameOverride wins, nameOverride is prefixed with the release name. */}}
{{- define "athena.fullname" -}}
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

{{- define "athena.selectorLabels" -}}
app.kubernetes.io/name: {{ include "athena.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "athena.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "athena.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* registry/repository:tag; global.imageRegistry overrides image.registry. */}}
{{- define "athena.image" -}}
{{- $registry := .Values.global.imageRegistry | default .Values.image.registry -}}
{{- $tag := .Values.image.tag | default .Values.version | default .Chart.AppVersion | toString -}}
{{- if $registry -}}
{{- printf "%s/%s:%s" $registry .Values.image.repository $tag -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/* Pull secrets from global.imagePullSecrets and image.pullSecrets, as names or {name: ...}. */}}
{{- define "athena.imagePullSecrets" -}}
{{- $names := list -}}
{{- range (concat (.Values.global.imagePullSecrets | default list) (.Values.image.pullSecrets | default list)) -}}
{{- if and (kindIs "string" .) . -}}
{{- $names = append $names . -}}
{{- else if and (kindIs "map" .) .name -}}
{{- $names = append $names .name -}}
{{- end -}}
{{- end -}}
{{- if $names -}}
imagePullSecrets:
{{- range $names }}
  - name: {{ . | quote }}
{{- end }}
{{- end -}}
{{- end -}}

{{- define "athena.secretName" -}}
{{- .Values.existingSecret | default (include "athena.fullname" .) -}}
{{- end -}}

{{- define "athena.configName" -}}
{{- .Values.existingConfig | default (include "athena.fullname" .) -}}
{{- end -}}

{{- define "athena.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- .Values.serviceAccount.name | default (include "athena.fullname" .) -}}
{{- else -}}
{{- .Values.serviceAccount.name | default "default" -}}
{{- end -}}
{{- end -}}

{{/*
The configuration file the process reads (NEXUS_CONFIG): every non-secret key of the athena section;
the port is containerPort. Secret keys reach the process as env from the Secret.
*/}}
{{- define "athena.configFile" -}}
{{- $a := .Values.athena -}}
athena:
  port: {{ .Values.containerPort | toJson }}
  host: {{ $a.host | toJson }}
  server:
    apiPrefix: {{ $a.server.apiPrefix | toJson }}
  nexus:
    url: {{ $a.nexus.url | default "" | toJson }}
    apiPrefix: {{ $a.nexus.apiPrefix | toJson }}
    timeout: {{ $a.nexus.timeout | toJson }}
  db:
    host: {{ $a.db.host | default "" | toJson }}
    port: {{ $a.db.port | toJson }}
    user: {{ $a.db.user | toJson }}
    database: {{ $a.db.database | toJson }}
    ssl: {{ $a.db.ssl | toJson }}
  redis:
    nodes: {{ $a.redis.nodes | default "" | toJson }}
    cluster: {{ $a.redis.cluster | toJson }}
    tls: {{ $a.redis.tls | toJson }}
    tlsRejectUnauthorized: {{ $a.redis.tlsRejectUnauthorized | toJson }}
    tlsCaFile: {{ $a.redis.tlsCaFile | toJson }}
    readinessGraceMs: {{ $a.redis.readinessGraceMs | toJson }}
  google:
    speechStreamPace: {{ $a.google.speechStreamPace | toJson }}
{{- end -}}
