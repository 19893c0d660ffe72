{{/* Chart name, or nameOverride. */}}
{{- define "nexus.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Release-qualified name; fullnameOverride wins, nameOverride is prefixed with the release name. */}}
{{- define "nexus.fullname" -}}
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

{{- define "nexus.selectorLabels" -}}
app.kubernetes.io/name: {{ include "nexus.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "nexus.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "nexus.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* registry/repository:tag; global.imageRegistry overrides image.registry. */}}
{{- define "nexus.image" -}}
{{- $registry := .Values.global.imageRegistry | default .Values.image.registry -}}
{{- $tag := .Values.image.tag | default .Values.version | default .Chart.AppVersion | toString -}}
{{- if $registry -}}
{{- printf "%s/%s:%s" $registry .Values.image.repository $tag -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/* Pull secrets from global.imagePullSecrets and imagePullSecrets, as names or {name: ...}. */}}
{{- define "nexus.imagePullSecrets" -}}
{{- $names := list -}}
{{- range (concat (.Values.global.imagePullSecrets | default list) (.Values.imagePullSecrets | default list)) -}}
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

{{- define "nexus.secretName" -}}
{{- .Values.existingSecret | default (include "nexus.fullname" .) -}}
{{- end -}}

{{- define "nexus.configName" -}}
{{- .Values.existingConfig | default (include "nexus.fullname" .) -}}
{{- end -}}

{{/*
The configuration file the process reads (NEXUS_CONFIG): every non-secret key of the nexus section.
Secret keys (passwords, tokens, keys) are not here: they reach the process as env from the Secret.
Values are written with toJson so numbers, booleans and strings keep their type.
*/}}
{{- define "nexus.configFile" -}}
{{- $n := .Values.nexus -}}
nexus:
  port: {{ $n.port | toJson }}
  host: {{ $n.host | toJson }}
  metricsPort: {{ $n.metricsPort | toJson }}
  dataDir: {{ $n.dataDir | toJson }}
  fqdn: {{ $n.fqdn | default "" | toJson }}
  redirectProtocol: {{ $n.redirectProtocol | toJson }}
  bodyLimit: {{ $n.bodyLimit | toJson }}
  corsOrigins: {{ $n.corsOrigins | toJson }}
  logLevel: {{ $n.logLevel | toJson }}
  redis:
    enabled: {{ $n.redis.enabled | toJson }}
    nodes: {{ $n.redis.nodes | default "" | toJson }}
    useCluster: {{ $n.redis.useCluster | toJson }}
    enableTls: {{ $n.redis.enableTls | toJson }}
    tlsRejectUnauthorized: {{ $n.redis.tlsRejectUnauthorized | toJson }}
    tlsCaFile: {{ $n.redis.tlsCaFile | toJson }}
    keyPrefix: {{ $n.redis.keyPrefix | toJson }}
    readinessGraceMs: {{ $n.redis.readinessGraceMs | toJson }}
  db:
    host: {{ $n.db.host | default "" | toJson }}
    port: {{ $n.db.port | toJson }}
    user: {{ $n.db.user | toJson }}
    database: {{ $n.db.database | toJson }}
    {{- /* The guide's example values spell it enableSsl; both are honoured. */}}
    enableSSL: {{ or $n.db.enableSSL $n.db.enableSsl | default false | toJson }}
    sslRejectUnauthorized: {{ $n.db.sslRejectUnauthorized | toJson }}
    poolSize: {{ $n.db.poolSize | toJson }}
    embeddedInMemory: {{ $n.db.embeddedInMemory | toJson }}
  auth:
    oidc:
      issuer: {{ $n.auth.oidc.issuer | toJson }}
      jwksUri: {{ $n.auth.oidc.jwksUri | toJson }}
      audience: {{ $n.auth.oidc.audience | toJson }}
    introspection:
      url: {{ $n.auth.introspection.url | toJson }}
      clientId: {{ $n.auth.introspection.clientId | toJson }}
      cacheSeconds: {{ $n.auth.introspection.cacheSeconds | toJson }}
  rateLimit:
    capacity: {{ $n.rateLimit.capacity | toJson }}
    frequency: {{ $n.rateLimit.frequency | toJson }}
  plugins:
    modules: {{ $n.plugins.modules | toJson }}
    callTimeoutMs: {{ $n.plugins.callTimeoutMs | toJson }}
    circuitFailures: {{ $n.plugins.circuitFailures | toJson }}
    circuitResetMs: {{ $n.plugins.circuitResetMs | toJson }}
  chat:
    clientTokenTtl: {{ $n.chat.clientTokenTtl | toJson }}
    agentTokenTtl: {{ $n.chat.agentTokenTtl | toJson }}
    commitWindowMs: {{ $n.chat.commitWindowMs | toJson }}
    commitMaxBatch: {{ $n.chat.commitMaxBatch | toJson }}
    maxInflightCommits: {{ $n.chat.maxInflightCommits | toJson }}
    socketMessagesPerSecond: {{ $n.chat.socketMessagesPerSecond | toJson }}
    socketMessageBurst: {{ $n.chat.socketMessageBurst | toJson }}
    typingPerSecond: {{ $n.chat.typingPerSecond | toJson }}
    maxFrameBytes: {{ $n.chat.maxFrameBytes | toJson }}
    maxMediaBytes: {{ $n.chat.maxMediaBytes | toJson }}
  routing:
    sweepMs: {{ $n.routing.sweepMs | toJson }}
    presenceTtlMs: {{ $n.routing.presenceTtlMs | toJson }}
    customerGraceMs: {{ $n.routing.customerGraceMs | toJson }}
  ux:
    demo: {{ $n.ux.demo | toJson }}
    frameAncestors: {{ $n.ux.frameAncestors | toJson }}
    parentOrigins: {{ $n.ux.parentOrigins | toJson }}
    assetsDir: {{ $n.ux.assetsDir | toJson }}
{{- end -}}

{{/* Several replicas share nothing unless Redis and PostgreSQL are configured: refuse instead. */}}
{{- define "nexus.checkReplicas" -}}
{{- if gt (int .Values.replicaCount) 1 -}}
{{- if not (and .Values.nexus.redis.enabled .Values.nexus.redis.nodes) -}}
{{- fail "replicaCount > 1 needs nexus.redis.enabled and nexus.redis.nodes: the in-process state belongs to one pod" -}}
{{- end -}}
{{- if not .Values.nexus.db.host -}}
{{- fail "replicaCount > 1 needs nexus.db.host: the embedded database belongs to one pod" -}}
{{- end -}}
{{- end -}}
{{- end -}}
