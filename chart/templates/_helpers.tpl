{{/* Names, labels and the pieces of the pod spec more than one template needs. */}}

{{- define "accouch.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "accouch.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "accouch.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "accouch.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "accouch.selectorLabels" -}}
app.kubernetes.io/name: {{ include "accouch.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "accouch.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "accouch.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "accouch.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* Where the Secret's files are mounted; the rendered configuration points at them. */}}
{{- define "accouch.secretDir" -}}/etc/accouch/secrets{{- end -}}

{{/* "true" when PostgreSQL is configured (then the pods keep no volume and may be several). */}}
{{- define "accouch.postgres" -}}
{{- if or .Values.database.url .Values.database.existingSecret -}}true{{- end -}}
{{- end -}}

{{/* "true" when the chart's own Secret has anything to hold. */}}
{{- define "accouch.ownSecret" -}}
{{- $any := or .Values.database.url .Values.secretKey.value -}}
{{- range .Values.clients -}}{{- if .secret -}}{{- $any = true -}}{{- end -}}{{- end -}}
{{- range .Values.upstreams -}}{{- if .clientSecret -}}{{- $any = true -}}{{- end -}}{{- end -}}
{{- if $any -}}true{{- end -}}
{{- end -}}

{{/* "true" when the pods mount a secrets directory: the chart's Secret or an existing one. */}}
{{- define "accouch.secretFiles" -}}
{{- if or (include "accouch.ownSecret" .) .Values.database.existingSecret .Values.secretKey.existingSecret -}}true{{- end -}}
{{- end -}}

{{/*
The Accouch configuration file: .Values.config plus the clients and upstreams, each secret replaced by the path
of its file in the Secret (secretFile, clientSecretFile), so no secret is in the ConfigMap; and, with
kubernetes.enabled, the kubernetes section with the release's Lease.
*/}}
{{- define "accouch.config" -}}
{{- $config := deepCopy .Values.config -}}
{{- $secretDir := include "accouch.secretDir" . -}}
{{- $clients := list -}}
{{- range .Values.clients -}}
{{- $client := omit . "secret" -}}
{{- if .secret -}}
{{- $_ := set $client "secretFile" (printf "%s/client-%s" $secretDir (.id | default .preset)) -}}
{{- end -}}
{{- $clients = append $clients $client -}}
{{- end -}}
{{- $_ := set $config "clients" $clients -}}
{{- if .Values.upstreams -}}
{{- $upstreams := list -}}
{{- range .Values.upstreams -}}
{{- $upstream := omit . "clientSecret" -}}
{{- if .clientSecret -}}
{{- $_ := set $upstream "clientSecretFile" (printf "%s/upstream-%s" $secretDir .id) -}}
{{- end -}}
{{- $upstreams = append $upstreams $upstream -}}
{{- end -}}
{{- $_ := set $config "upstreams" $upstreams -}}
{{- end -}}
{{- if .Values.kubernetes.enabled -}}
{{- $_ := set $config "kubernetes" (dict "enabled" true "namespaces" .Values.kubernetes.namespaces "leaseNamespace" .Release.Namespace "leaseName" (include "accouch.fullname" .) "leaseDuration" .Values.kubernetes.leaseDuration "watchIngresses" .Values.kubernetes.watchIngresses "patchIngresses" .Values.kubernetes.patchIngresses "forwardAuthAddress" (include "accouch.serviceForwardAuth" .)) -}}
{{- end -}}
{{- toYaml $config -}}
{{- end -}}

{{/*
What the AccouchClient operator may do where it serves resources: read AccouchClients and write their status;
get, create, replace and delete Secrets by name (never list or watch them: Accouch reads only the ones resources
name); create Events; with watchIngresses, read Ingresses (update them too with patchIngresses) and manage
Traefik Middlewares.
*/}}
{{- define "accouch.clientRules" -}}
- apiGroups: [accouch.dev]
  resources: [accouchclients]
  verbs: [get, list, watch]
- apiGroups: [accouch.dev]
  resources: [accouchclients/status]
  verbs: [update]
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, create, update, delete]
- apiGroups: [""]
  resources: [events]
  verbs: [create]
{{- if .Values.kubernetes.watchIngresses }}
- apiGroups: [networking.k8s.io]
  resources: [ingresses]
  verbs: [get, list, watch{{ if .Values.kubernetes.patchIngresses }}, update{{ end }}]
- apiGroups: [traefik.io]
  resources: [middlewares]
  verbs: [get, create, update, delete]
{{- end }}
{{- end -}}

{{/* Where Traefik's forwardAuth asks Accouch from inside the cluster: its Service, under the issuer's path. */}}
{{- define "accouch.serviceForwardAuth" -}}
{{- $issuer := urlParse .Values.config.issuer -}}
{{- printf "http://%s.%s.svc:%v%s/forward-auth/traefik" (include "accouch.fullname" .) .Release.Namespace .Values.service.port (trimSuffix "/" $issuer.path) -}}
{{- end -}}
