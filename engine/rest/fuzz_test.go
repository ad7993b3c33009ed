package rest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/freshet/freshet/engine/cluster"
	"github.com/freshet/freshet/engine/rest"
	"github.com/freshet/freshet/engine/rest/resttest"
	"github.com/freshet/freshet/host"
	"github.com/freshet/freshet/host/abi"
	"github.com/freshet/freshet/host/modules"
)

// FuzzRequests sends arbitrary bodies, content types and paths to the
// endpoints that decode request bodies (on a cluster without jobs, so that
// nothing is started): every answer must be a well-formed JSON error or
// success with the status of its code, and never a 500.
func FuzzRequests(f *testing.F) {
	ctx := context.Background()
	mc, err := cluster.NewMiniCluster(cluster.MiniClusterConfig{})
	if err != nil {
		f.Fatal(err)
	}
	defer mc.Close()
	rt, err := host.NewRuntime(ctx, host.Config{CompilationCacheDir: "off"})
	if err != nil {
		f.Fatal(err)
	}
	defer rt.Close(ctx)
	store, err := modules.Open(f.TempDir(), rt)
	if err != nil {
		f.Fatal(err)
	}
	srv, err := rest.NewServer(rest.Config{Cluster: rest.NewLocalCluster(mc, rest.LocalConfig{}), Modules: store, MaxModuleBytes: 1 << 16})
	if err != nil {
		f.Fatal(err)
	}
	defer srv.Close()

	f.Add(uint8(0), "x", "application/json", "", []byte(`{"target-directory": "/tmp/x"}`))
	f.Add(uint8(1), "x", "application/json", "", []byte(`{"drain": false}`))
	f.Add(uint8(2), "0", "application/json", "", []byte(`{"module": "a@1"}`))
	f.Add(uint8(3), "", "application/wasm", "name=a&version=1", resttest.Module(abi.KindMap, 1))
	f.Add(uint8(3), "", "multipart/form-data; boundary=b", "", []byte("--b\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\na\r\n--b--\r\n"))
	f.Add(uint8(4), "x", "", "mode=cancel", []byte{})
	f.Add(uint8(5), "jobs/%zz", "text/plain", "a=%", []byte("{"))
	f.Fuzz(func(t *testing.T, route uint8, seg, contentType, rawQuery string, body []byte) {
		var method, path string
		switch route % 6 {
		case 0:
			method, path = "POST", "/v1/jobs/"+url.PathEscape(seg)+"/savepoints"
		case 1:
			method, path = "POST", "/v1/jobs/"+url.PathEscape(seg)+"/stop"
		case 2:
			method, path = "POST", "/v1/jobs/j/vertices/"+url.PathEscape(seg)+"/module"
		case 3:
			method, path = "POST", "/v1/modules"
		case 4:
			method, path = "PATCH", "/v1/jobs/"+url.PathEscape(seg)
		default:
			method, path = "GET", "/v1/"+seg
		}
		req, err := http.NewRequest(method, "http://freshet"+path, bytes.NewReader(body))
		if err != nil {
			return // not a request a client could send
		}
		req.URL.RawQuery = rawQuery
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, req)
		if w.Code == http.StatusInternalServerError {
			t.Fatalf("%s %s: 500: %s", method, path, w.Body.Bytes())
		}
		if w.Code < 300 {
			return
		}
		var eb rest.ErrorBody
		if err := json.Unmarshal(w.Body.Bytes(), &eb); err != nil || eb.Code == "" || eb.Message == "" {
			t.Fatalf("%s %s: %d with body %q", method, path, w.Code, w.Body.Bytes())
		}
		if want := map[string]int{
			rest.CodeBadRequest: 400, rest.CodeInvalidJob: 400, rest.CodeInvalidModule: 400, rest.CodeNotFound: 404,
			rest.CodeMethodNotAllowed: 405, rest.CodeConflict: 409, rest.CodeTooLarge: 413,
			rest.CodeUnsupportedMediaType: 415, rest.CodeNotImplemented: 501,
		}[eb.Code]; want != w.Code {
			t.Fatalf("%s %s: status %d with code %s", method, path, w.Code, eb.Code)
		}
	})
}
