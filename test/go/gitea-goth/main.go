// Gitea's side of an "OpenID Connect" authentication source, for the Gitea preset's e2e test: the flags of
// `gitea admin auth add-oauth` that the preset prints, fed to github.com/markbates/goth's openidConnect provider
// the way Gitea does it (services/auth/source/oauth2: openidConnect.New with the source's key, secret, callback
// <app-url>/user/oauth2/<name>/callback, auto-discovery URL and scopes), and the sign-in Gitea makes of the goth
// user: the username from NickName (app.ini USERNAME = nickname), the groups from RawData[group-claim-name], site
// administrator when they contain --admin-group.
//
// GET /user/oauth2/<name> starts the sign-in (random state, as gothic does); the callback checks the state, lets goth
// exchange the code (client_secret_basic through golang.org/x/oauth2's auto-detection, no PKCE, as released Gitea)
// and fetch the user, prints one JSON line {"username","email","groups","admin"} on stdout and answers a page
// saying who signed in. The first stdout line is {"ready":"http://127.0.0.1:PORT"}.
package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"html"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"

	"github.com/markbates/goth"
	"github.com/markbates/goth/providers/openidConnect"
)

type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	// The flags of `gitea admin auth add-oauth` the preset prints (those Gitea has and this harness ignores are
	// accepted so the printed command works as it is).
	name := flag.String("name", "", "the authentication source's name")
	providerName := flag.String("provider", "", "must be openidConnect")
	key := flag.String("key", "", "client id")
	secret := flag.String("secret", "", "client secret")
	discovery := flag.String("auto-discover-url", "", "the issuer's discovery document")
	var scopes list
	flag.Var(&scopes, "scopes", "a scope (repeatable)")
	groupClaim := flag.String("group-claim-name", "", "claim holding the groups")
	adminGroup := flag.String("admin-group", "", "group whose members are site administrators")
	flag.Bool("skip-local-2fa", false, "Gitea's own second factor is skipped (no effect here)")
	appURL := flag.String("app-url", "", "Gitea's ROOT_URL, e.g. http://127.0.0.1:3000/")
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	flag.Parse()
	if *providerName != "openidConnect" {
		fmt.Fprintf(os.Stderr, "--provider: only openidConnect is exercised here (got %q)\n", *providerName)
		os.Exit(2)
	}

	listener, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	base := *appURL
	if base == "" {
		base = "http://" + listener.Addr().String() + "/"
	}
	if !strings.HasSuffix(base, "/") {
		base += "/"
	}
	callback := base + "user/oauth2/" + url.PathEscape(*name) + "/callback"
	provider, err := openidConnect.New(*key, *secret, callback, *discovery, scopes...)
	if err != nil {
		fmt.Fprintf(os.Stderr, "goth: %v\n", err)
		os.Exit(2)
	}

	var mu sync.Mutex
	sessions := map[string]goth.Session{} // state -> session: what gothic keeps in its cookie store

	begin := "/user/oauth2/" + *name
	http.HandleFunc(begin, func(w http.ResponseWriter, r *http.Request) {
		nonce := make([]byte, 32)
		_, _ = rand.Read(nonce)
		state := hex.EncodeToString(nonce)
		session, err := provider.BeginAuth(state)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		authURL, err := session.GetAuthURL()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		mu.Lock()
		sessions[state] = session
		mu.Unlock()
		http.Redirect(w, r, authURL, http.StatusTemporaryRedirect)
	})
	http.HandleFunc(begin+"/callback", func(w http.ResponseWriter, r *http.Request) {
		query := r.URL.Query()
		mu.Lock()
		session, ok := sessions[query.Get("state")]
		delete(sessions, query.Get("state"))
		mu.Unlock()
		fail := func(why string) {
			_ = json.NewEncoder(os.Stdout).Encode(map[string]any{"error": why})
			http.Error(w, why, http.StatusForbidden)
		}
		if !ok {
			fail("state mismatch")
			return
		}
		if e := query.Get("error"); e != "" {
			fail(e + ": " + query.Get("error_description"))
			return
		}
		if _, err := session.Authorize(provider, query); err != nil {
			fail(err.Error())
			return
		}
		user, err := provider.FetchUser(session)
		if err != nil {
			fail(err.Error())
			return
		}
		groups := []string{}
		if raw, ok := user.RawData[*groupClaim].([]any); ok {
			for _, g := range raw {
				if s, ok := g.(string); ok {
					groups = append(groups, s)
				}
			}
		}
		admin := false
		for _, g := range groups {
			admin = admin || (*adminGroup != "" && g == *adminGroup)
		}
		_ = json.NewEncoder(os.Stdout).Encode(map[string]any{"username": user.NickName, "email": user.Email, "name": user.Name, "groups": groups, "admin": admin})
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<!doctype html><title>Gitea</title><h1>Signed in as %s</h1>", html.EscapeString(user.NickName))
	})

	_ = json.NewEncoder(os.Stdout).Encode(map[string]any{"ready": strings.TrimSuffix(base, "/")})
	if err := http.Serve(listener, nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
