{{/* Names, labels, the image and the shared pieces of the pod specs. */}}

{{- define "cell-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's full name: the release name alone when it already contains the chart's name. */}}
{{- define "cell-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Component names stay within 52 characters, so that StatefulSet pod and revision labels fit in 63. */}}
{{- define "cell-operator.routerName" -}}
{{- printf "%s-router" (include "cell-operator.fullname" . | trunc 45 | trimSuffix "-") }}
{{- end }}
{{- define "cell-operator.postgresName" -}}
{{- printf "%s-postgres" (include "cell-operator.fullname" . | trunc 43 | trimSuffix "-") }}
{{- end }}
{{- define "cell-operator.leaderElectionName" -}}
{{- printf "%s-leader-election" (include "cell-operator.fullname" . | trunc 47 | trimSuffix "-") }}
{{- end }}

{{- define "cell-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "cell-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: cell-operator
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Selector labels of one component (operator, router, postgres): immutable once installed. */}}
{{- define "cell-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cell-operator.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "cell-operator.componentLabels" -}}
{{ include "cell-operator.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* The metadata every templated object carries: labels and the Argo CD sync wave, plus .labels and .annotations. */}}
{{- define "cell-operator.metadata" -}}
labels:
  {{- include "cell-operator.componentLabels" . | nindent 2 }}
  {{- with .labels }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
annotations:
  argocd.argoproj.io/sync-wave: {{ .root.Values.argocd.syncWave | quote }}
  {{- with .annotations }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end }}

{{/* An image reference; `registry` (global.imageRegistry) replaces the repository's registry (its first part when that has a dot or a port, Docker Hub otherwise). */}}
{{- define "cell-operator.image" -}}
{{- $repository := .repository }}
{{- with .registry }}
{{- $parts := splitList "/" $repository }}
{{- if and (gt (len $parts) 1) (regexMatch "[.:]|^localhost$" (first $parts)) }}{{ $repository = join "/" (rest $parts) }}{{ end }}
{{- $repository = printf "%s/%s" (trimSuffix "/" .) $repository }}
{{- end }}
{{- if .digest }}
{{- printf "%s@%s" $repository .digest }}
{{- else }}
{{- printf "%s:%s" $repository (toString .tag) }}
{{- end }}
{{- end }}

{{- define "cell-operator.appImage" -}}
{{- include "cell-operator.image" (dict "registry" (.Values.global).imageRegistry "repository" .Values.image.repository "digest" .Values.image.digest "tag" (default .Chart.AppVersion .Values.image.tag)) }}
{{- end }}

{{- define "cell-operator.serviceAccountName" -}}
{{- if .Values.operator.serviceAccount.create }}
{{- default (include "cell-operator.fullname" .) .Values.operator.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.operator.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "cell-operator.routerServiceAccountName" -}}
{{- if .Values.router.serviceAccount.create }}
{{- default (include "cell-operator.routerName" .) .Values.router.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.router.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Pod Security Standard `restricted` by default, for every pod of the chart (values: podSecurityContext, containerSecurityContext). */}}
{{- define "cell-operator.containerSecurityContext" -}}
{{- toYaml .Values.containerSecurityContext }}
{{- end }}

{{/* Spread over zones and nodes unless the values say otherwise. */}}
{{- define "cell-operator.topologySpread" -}}
{{- if .values.topologySpreadConstraints }}
{{- toYaml .values.topologySpreadConstraints }}
{{- else }}
- maxSkew: 1
  topologyKey: topology.kubernetes.io/zone
  whenUnsatisfiable: ScheduleAnyway
  labelSelector:
    matchLabels:
      {{- include "cell-operator.selectorLabels" . | nindent 6 }}
- maxSkew: 1
  topologyKey: kubernetes.io/hostname
  whenUnsatisfiable: ScheduleAnyway
  labelSelector:
    matchLabels:
      {{- include "cell-operator.selectorLabels" . | nindent 6 }}
{{- end }}
{{- end }}

{{/* The chart's own PostgreSQL, or an external database. */}}
{{- define "cell-operator.externalDatabase" -}}
{{- if or .Values.controlPlane.databaseUrl .Values.controlPlane.existingSecret }}true{{ end }}
{{- end }}

{{- define "cell-operator.checkDatabase" -}}
{{- $external := include "cell-operator.externalDatabase" . }}
{{- if and $external .Values.controlPlane.postgres.enabled }}
{{- fail "controlPlane.databaseUrl or controlPlane.existingSecret names an external database: set controlPlane.postgres.enabled=false too (the chart's PostgreSQL would go unused)" }}
{{- end }}
{{- if and .Values.controlPlane.databaseUrl .Values.controlPlane.existingSecret }}
{{- fail "set controlPlane.databaseUrl or controlPlane.existingSecret, not both" }}
{{- end }}
{{- if and (not $external) (not .Values.controlPlane.postgres.enabled) }}
{{- fail "the operator needs a control-plane database: keep controlPlane.postgres.enabled=true or set controlPlane.databaseUrl (or controlPlane.existingSecret)" }}
{{- end }}
{{- end }}

{{- define "cell-operator.controlPlaneSecretName" -}}
{{- printf "%s-control-plane" (include "cell-operator.fullname" . | trunc 49 | trimSuffix "-") }}
{{- end }}

{{- define "cell-operator.postgresSecretName" -}}
{{- default (include "cell-operator.postgresName" .) .Values.controlPlane.postgres.existingSecret }}
{{- end }}

{{/*
CONTROL_PLANE_DATABASE_URL from a Secret, never as a plain value. With the chart's PostgreSQL the URL
refers to the password variable before it ($(VAR) is expanded by the kubelet), so that an existing
password Secret is all Argo CD users need.
*/}}
{{- define "cell-operator.databaseEnv" -}}
{{- if include "cell-operator.externalDatabase" . }}
- name: CONTROL_PLANE_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ default (include "cell-operator.controlPlaneSecretName" .) .Values.controlPlane.existingSecret }}
      key: {{ if .Values.controlPlane.existingSecret }}{{ .Values.controlPlane.existingSecretKey }}{{ else }}database-url{{ end }}
{{- else }}
{{- $pg := .Values.controlPlane.postgres }}
- name: CONTROL_PLANE_DATABASE_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "cell-operator.postgresSecretName" . }}
      key: {{ $pg.passwordKey }}
- name: CONTROL_PLANE_DATABASE_URL
  value: {{ printf "postgres://%s:$(CONTROL_PLANE_DATABASE_PASSWORD)@%s.%s.svc:5432/%s" $pg.username (include "cell-operator.postgresName" .) .Release.Namespace $pg.database | quote }}
{{- end }}
{{- /* TLS of the connection, in libpq's variables: an sslmode or sslrootcert in the URL wins. */}}
- name: PGSSLMODE
  value: {{ .Values.controlPlane.tls.sslMode | quote }}
{{- if include "cell-operator.controlPlaneCaSecret" . }}
- name: PGSSLROOTCERT
  value: /etc/cell-operator/control-plane-tls/ca.crt
{{- end }}
{{- end }}

{{/* The Secret with the CA of the control-plane database: the given one, or the chart's PostgreSQL's; empty: none (the system's roots). */}}
{{- define "cell-operator.controlPlaneCaSecret" -}}
{{- if .Values.controlPlane.tls.caSecret }}{{ .Values.controlPlane.tls.caSecret }}
{{- else if .Values.controlPlane.postgres.enabled }}{{ include "cell-operator.postgresTlsSecretName" . }}
{{- end }}
{{- end }}

{{- define "cell-operator.controlPlaneCaKey" -}}
{{- if .Values.controlPlane.tls.caSecret }}{{ .Values.controlPlane.tls.caKey }}{{ else }}ca.crt{{ end }}
{{- end }}

{{/* The control-plane CA as a file for the operator and the router (PGSSLROOTCERT). */}}
{{- define "cell-operator.controlPlaneCaVolumeMount" -}}
{{- if include "cell-operator.controlPlaneCaSecret" . }}
- name: control-plane-tls
  mountPath: /etc/cell-operator/control-plane-tls
  readOnly: true
{{- end }}
{{- end }}

{{- define "cell-operator.controlPlaneCaVolume" -}}
{{- if include "cell-operator.controlPlaneCaSecret" . }}
- name: control-plane-tls
  secret:
    secretName: {{ include "cell-operator.controlPlaneCaSecret" . }}
    items:
      - key: {{ include "cell-operator.controlPlaneCaKey" . }}
        path: ca.crt
{{- end }}
{{- end }}

{{- define "cell-operator.postgresTlsSecretName" -}}
{{- default (printf "%s-tls" (include "cell-operator.postgresName" .)) .Values.controlPlane.postgres.tls.existingSecret }}
{{- end }}

{{/* A random secret value, generated once: kept from the live Secret when it exists. */}}
{{- define "cell-operator.generatedSecretValue" -}}
{{- $live := lookup "v1" "Secret" .root.Release.Namespace .name }}
{{- if and $live $live.data (hasKey $live.data .key) }}
{{- index $live.data .key }}
{{- else }}
{{- randAlphaNum 40 | b64enc }}
{{- end }}
{{- end }}

{{- define "cell-operator.routerTokenSecretName" -}}
{{- default (printf "%s-token" (include "cell-operator.routerName" .)) .Values.router.token.existingSecret }}
{{- end }}
