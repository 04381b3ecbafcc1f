// kube-apiserver's own bearer-token authentication, for the kubectl e2e tests: the AuthenticationConfiguration file
// given with --authentication-config is decoded and validated the way kube-apiserver does it (k8s.io/apiserver's
// scheme in strict mode, ValidateAuthenticationConfiguration), and every request's token goes through the JWT
// authenticator kube-apiserver builds from it (k8s.io/apiserver/plugin/pkg/authenticator/token/oidc: discovery,
// JWKS, signature, iss, aud, exp, CEL claim validation rules, claim mappings and prefixes), then the
// system:authenticated group adder. What it serves after that is only the few read-only routes kubectl needs for
// `kubectl get namespaces` and `kubectl auth whoami`.
//
// It prints one JSON line per request on stdout ({"path","user","groups"} or {"path","refused"}) and, first,
// {"ready":"https://127.0.0.1:PORT"} once the authenticator has fetched the issuer's discovery document and keys.
// A configuration kube-apiserver would refuse makes it exit 2 with the validation errors on stderr.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	api "k8s.io/apiserver/pkg/apis/apiserver"
	"k8s.io/apiserver/pkg/apis/apiserver/install"
	"k8s.io/apiserver/pkg/apis/apiserver/validation"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/group"
	"k8s.io/apiserver/pkg/authentication/request/bearertoken"
	tokenunion "k8s.io/apiserver/pkg/authentication/token/union"
	authenticationcel "k8s.io/apiserver/pkg/authentication/cel"
	"k8s.io/apiserver/pkg/server/dynamiccertificates"
	"k8s.io/apiserver/plugin/pkg/authenticator/token/oidc"
)

// loadAuthenticationConfiguration decodes the file as kube-apiserver's loadAuthenticationConfigFromData does
// (pkg/kubeapiserver/options/authentication.go): the apiserver.config.k8s.io scheme, strict decoding (an unknown
// or duplicate field is an error), any served version converted to the internal type.
func loadAuthenticationConfiguration(data []byte) (*api.AuthenticationConfiguration, error) {
	scheme := runtime.NewScheme()
	install.Install(scheme)
	codecs := serializer.NewCodecFactory(scheme, serializer.EnableStrict)
	obj, err := runtime.Decode(codecs.UniversalDecoder(), data)
	if err != nil {
		return nil, err
	}
	config, ok := obj.(*api.AuthenticationConfiguration)
	if !ok {
		return nil, fmt.Errorf("expected AuthenticationConfiguration, got %T", obj)
	}
	return config, nil
}

type healthChecked interface{ HealthCheck() error }

// buildAuthenticator is what kube-apiserver's authenticator config does with the JWT authenticators: one oidc
// authenticator per entry (its issuer CA from certificateAuthority), unioned, then system:authenticated added.
func buildAuthenticator(ctx context.Context, config *api.AuthenticationConfiguration, compiler authenticationcel.Compiler) (authenticator.Request, []healthChecked, error) {
	var tokens []authenticator.Token
	var checks []healthChecked
	for _, jwt := range config.JWT {
		var ca oidc.CAContentProvider
		if jwt.Issuer.CertificateAuthority != "" {
			content, err := dynamiccertificates.NewStaticCAContent("oidc-authenticator", []byte(jwt.Issuer.CertificateAuthority))
			if err != nil {
				return nil, nil, err
			}
			ca = content
		}
		token, err := oidc.New(ctx, oidc.Options{
			JWTAuthenticator:     jwt,
			CAContentProvider:    ca,
			SupportedSigningAlgs: []string{"RS256"},
			Compiler:             compiler,
			APIServerID:          "accouch-test",
		})
		if err != nil {
			return nil, nil, err
		}
		tokens = append(tokens, token)
		checks = append(checks, token)
	}
	return group.NewAuthenticatedGroupAdder(bearertoken.New(tokenunion.New(tokens...))), checks, nil
}

var out = json.NewEncoder(os.Stdout)
var outMu sync.Mutex

func emit(line map[string]any) {
	outMu.Lock()
	defer outMu.Unlock()
	_ = out.Encode(line)
}

func status(w http.ResponseWriter, code int, reason, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"kind": "Status", "apiVersion": "v1", "metadata": map[string]any{}, "status": "Failure", "message": message, "reason": reason, "code": code})
}

var namespaces = []string{"default", "kube-system", "accouch-home"}

func routes(path string) any {
	switch path {
	case "/version":
		return map[string]any{"major": "1", "minor": "37", "gitVersion": "v1.37.2-accouch-test", "platform": "linux/amd64"}
	case "/api":
		return map[string]any{"kind": "APIVersions", "versions": []string{"v1"}, "serverAddressByClientCIDRs": []any{map[string]any{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}}}
	case "/apis":
		return map[string]any{"kind": "APIGroupList", "apiVersion": "v1", "groups": []any{map[string]any{
			"name": "authentication.k8s.io", "versions": []any{map[string]any{"groupVersion": "authentication.k8s.io/v1", "version": "v1"}},
			"preferredVersion": map[string]any{"groupVersion": "authentication.k8s.io/v1", "version": "v1"},
		}}}
	case "/api/v1":
		return map[string]any{"kind": "APIResourceList", "groupVersion": "v1", "resources": []any{map[string]any{
			"name": "namespaces", "singularName": "namespace", "namespaced": false, "kind": "Namespace", "verbs": []string{"get", "list"}, "shortNames": []string{"ns"},
		}}}
	case "/apis/authentication.k8s.io/v1":
		return map[string]any{"kind": "APIResourceList", "groupVersion": "authentication.k8s.io/v1", "resources": []any{map[string]any{
			"name": "selfsubjectreviews", "singularName": "selfsubjectreview", "namespaced": false, "kind": "SelfSubjectReview", "verbs": []string{"create"},
		}}}
	case "/api/v1/namespaces":
		items := []any{}
		for i, name := range namespaces {
			items = append(items, map[string]any{
				"metadata": map[string]any{"name": name, "uid": fmt.Sprintf("00000000-0000-0000-0000-00000000000%d", i), "resourceVersion": "1", "creationTimestamp": "2026-01-01T00:00:00Z"},
				"spec":     map[string]any{"finalizers": []string{"kubernetes"}},
				"status":   map[string]any{"phase": "Active"},
			})
		}
		return map[string]any{"kind": "NamespaceList", "apiVersion": "v1", "metadata": map[string]any{"resourceVersion": "1"}, "items": items}
	}
	return nil
}

func main() {
	configFile := flag.String("authentication-config", "", "the AuthenticationConfiguration file, as kube-apiserver --authentication-config")
	certFile := flag.String("tls-cert-file", "", "serving certificate (PEM)")
	keyFile := flag.String("tls-private-key-file", "", "serving key (PEM)")
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	flag.Parse()

	data, err := os.ReadFile(*configFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	config, err := loadAuthenticationConfiguration(data)
	if err != nil {
		fmt.Fprintf(os.Stderr, "invalid authentication config: %v\n", err)
		os.Exit(2)
	}
	compiler := authenticationcel.NewDefaultCompiler()
	if errs := validation.ValidateAuthenticationConfiguration(compiler, config, nil); len(errs) > 0 {
		fmt.Fprintf(os.Stderr, "invalid authentication config: %v\n", errs.ToAggregate())
		os.Exit(2)
	}
	ctx := context.Background()
	auth, checks, err := buildAuthenticator(ctx, config, compiler)
	if err != nil {
		fmt.Fprintf(os.Stderr, "cannot build the authenticator: %v\n", err)
		os.Exit(2)
	}
	// The oidc authenticator fetches discovery and keys in the background; kube-apiserver reports it unhealthy
	// until then. Wait for it so the first kubectl call is not refused for that reason.
	deadline := time.Now().Add(60 * time.Second)
	for _, check := range checks {
		for check.HealthCheck() != nil {
			if time.Now().After(deadline) {
				fmt.Fprintf(os.Stderr, "the authenticator did not become healthy: %v\n", check.HealthCheck())
				os.Exit(3)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		res, ok, err := auth.AuthenticateRequest(r)
		if err != nil || !ok {
			why := "no bearer token"
			if err != nil {
				why = err.Error()
			}
			emit(map[string]any{"path": r.URL.Path, "refused": why})
			status(w, http.StatusUnauthorized, "Unauthorized", "Unauthorized")
			return
		}
		user := res.User
		emit(map[string]any{"path": r.URL.Path, "user": user.GetName(), "groups": user.GetGroups(), "extra": user.GetExtra()})
		if r.Method == http.MethodPost && r.URL.Path == "/apis/authentication.k8s.io/v1/selfsubjectreviews" {
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusCreated)
			_ = json.NewEncoder(w).Encode(map[string]any{
				"kind": "SelfSubjectReview", "apiVersion": "authentication.k8s.io/v1", "metadata": map[string]any{"creationTimestamp": nil},
				"status": map[string]any{"userInfo": map[string]any{"username": user.GetName(), "uid": user.GetUID(), "groups": user.GetGroups(), "extra": user.GetExtra()}},
			})
			return
		}
		body := routes(r.URL.Path)
		if r.Method != http.MethodGet || body == nil {
			status(w, http.StatusNotFound, "NotFound", "the server could not find the requested resource")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(body)
	})

	listener, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	emit(map[string]any{"ready": "https://" + listener.Addr().String()})
	server := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	if err := server.ServeTLS(listener, *certFile, *keyFile); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
