{{/* Names, labels and the container's command line, shared by every template. */}}

{{- define "wsgate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The full name: the release name, plus the chart name unless the release name
already contains it (release "wsgate" → "wsgate", release "edge" → "edge-wsgate").
*/}}
{{- define "wsgate.fullname" -}}
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

{{- define "wsgate.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "wsgate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "wsgate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "wsgate.labels" -}}
helm.sh/chart: {{ include "wsgate.chart" . }}
{{ include "wsgate.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: wsgate
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "wsgate.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "wsgate.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "wsgate.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* NAMESPACE/NAME of the default TLS Secret, or "" when none is set. */}}
{{- define "wsgate.defaultTLSSecret" -}}
{{- with .Values.defaultTLSSecret.name }}
{{- printf "%s/%s" (default $.Release.Namespace $.Values.defaultTLSSecret.namespace) . }}
{{- end }}
{{- end }}

{{/* The namespaces with a Role in namespaced mode: the watched ones, sorted and unique. */}}
{{- define "wsgate.watchNamespaces" -}}
{{- .Values.watchNamespaces | uniq | sortAlpha | toJson }}
{{- end }}

{{/*
The RBAC rules, read from files/clusterrole-rules.yaml: the one definition shared
with the controller's real-apiserver tests.
*/}}
{{- define "wsgate.rbacRules" -}}
{{- $rules := list }}
{{- range (.Files.Get "files/clusterrole-rules.yaml" | fromYamlArray) }}
{{- if or $.Values.gatewayAPI.enabled (not (or (has "gateway.networking.k8s.io" .apiGroups) (has "namespaces" .resources))) }}
{{- if or $.Values.ingress.enabled (not (has "networking.k8s.io" .apiGroups)) }}
{{- $rules = append $rules . }}
{{- end }}
{{- end }}
{{- end }}
{{- $rules | toYaml }}
{{- end }}

{{/* Checks value combinations the schema cannot express; fails the render with a fix. */}}
{{- define "wsgate.validate" -}}
{{- $watched := include "wsgate.watchNamespaces" . | fromJsonArray }}
{{- $tls := include "wsgate.defaultTLSSecret" . }}
{{- if and $watched $tls }}
{{- $tlsNamespace := first (splitList "/" $tls) }}
{{- if not (has $tlsNamespace $watched) }}
{{- fail (printf "defaultTLSSecret is in namespace %q, which watchNamespaces %v does not include: wsgate only reads Secrets in watched namespaces; add %q to watchNamespaces or move the Secret" $tlsNamespace $watched $tlsNamespace) }}
{{- end }}
{{- end }}
{{- if and (not .Values.autoscaling.enabled) (lt (int .Values.replicaCount) 1) }}
{{- fail "replicaCount must be at least 1" }}
{{- end }}
{{- if and .Values.autoscaling.enabled (gt (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas)) }}
{{- fail "autoscaling.minReplicas must not exceed autoscaling.maxReplicas" }}
{{- end }}
{{- if and .Values.autoscaling.enabled (not .Values.autoscaling.targetCPUUtilizationPercentage) (not .Values.autoscaling.connections.enabled) }}
{{- fail "autoscaling.enabled needs a metric: set autoscaling.targetCPUUtilizationPercentage or autoscaling.connections.enabled" }}
{{- end }}
{{- end }}

{{/* terminationGracePeriodSeconds: preStop sleep + drain window + margin (see values.yaml, shutdown). */}}
{{- define "wsgate.terminationGracePeriodSeconds" -}}
{{- add .Values.shutdown.preStopSleepSeconds .Values.shutdown.drainSeconds .Values.shutdown.marginSeconds }}
{{- end }}

{{/* The arguments of `wsgate serve`: every value maps to a flag of src/config/config.ts. */}}
{{/*
--workers: the value when set; "auto" (the cgroup CPU quota) when the container has a CPU
limit; 1 otherwise (the binary's default is auto, which without a limit would take a
thread per node core).
*/}}
{{- define "wsgate.workers" -}}
{{- if .Values.workers -}}
{{- .Values.workers | toString -}}
{{- else if dig "limits" "cpu" "" (.Values.resources | default dict) -}}
auto
{{- else -}}
1
{{- end -}}
{{- end }}

{{- define "wsgate.args" -}}
- serve
- {{ printf "--http-listen=0.0.0.0:%v" .Values.ports.http | quote }}
- {{ printf "--https-listen=0.0.0.0:%v" .Values.ports.https | quote }}
- {{ printf "--admin-listen=0.0.0.0:%v" .Values.ports.admin | quote }}
- {{ printf "--ingress-class=%s" .Values.ingressClass | quote }}
{{- if .Values.gatewayAPI.enabled }}
- {{ printf "--gateway-class-controller=%s" .Values.gatewayAPI.controllerName | quote }}
{{- else }}
- --disable-gateway-api
{{- end }}
{{- if .Values.ingress.enabled }}
- {{ printf "--publish-service=%s/%s" .Release.Namespace (include "wsgate.fullname" .) | quote }}
{{- if .Values.ingress.watchWithoutClass }}
- --watch-ingress-without-class
{{- end }}
{{- else }}
- --disable-ingress
{{- end }}
{{- range (include "wsgate.watchNamespaces" . | fromJsonArray) }}
- {{ printf "--namespace=%s" . | quote }}
{{- end }}
- {{ printf "--shutdown-drain=%vs" .Values.shutdown.drainSeconds | quote }}
{{- with include "wsgate.workers" . }}
- {{ printf "--workers=%s" . | quote }}
{{- end }}
- {{ printf "--log-level=%s" .Values.logLevel | quote }}
{{- with .Values.trustedProxies }}
- {{ printf "--trusted-proxies=%s" (join "," .) | quote }}
{{- end }}
{{- if .Values.proxyProtocol }}
- --proxy-protocol
{{- end }}
{{- if not .Values.http2 }}
- --http2=false
{{- end }}
{{- with include "wsgate.defaultTLSSecret" . }}
- {{ printf "--default-tls-secret=%s" . | quote }}
{{- end }}
{{- with .Values.leaderElection.id }}
- {{ printf "--leader-election-id=%s" . | quote }}
{{- end }}
- {{ printf "--leader-election-lease-duration=%s" .Values.leaderElection.leaseDuration | quote }}
{{- if .Values.sessionAffinity.keySecret }}
- {{ printf "--affinity-key-secret=%s/%s-affinity-key" .Release.Namespace (include "wsgate.fullname" .) | quote }}
{{- end }}
{{- range .Values.extraArgs }}
- {{ . | quote }}
{{- end }}
{{- end }}
