package rpc

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"
)

// pythonCall is a call body as oslo.messaging 14.0.3 publishes it (json.dumps of the envelope
// around json.dumps of the message), trimmed to a few context keys.
const pythonCall = `{"oslo.version": "2.0", "oslo.message": "{\"method\": \"object_action\", \"args\": {\"objinst\": {\"nova_object.name\": \"Service\", \"nova_object.namespace\": \"nova\", \"nova_object.version\": \"1.22\", \"nova_object.data\": {\"id\": 7, \"report_count\": 42}, \"nova_object.changes\": [\"report_count\"]}, \"objmethod\": \"save\", \"args\": [], \"kwargs\": {}}, \"version\": \"3.0\", \"_msg_id\": \"fcf9f46c61724f3d8596072cd750dbce\", \"_reply_q\": \"reply_fc6b7fcc9a7e4c86aea32264db3d51c4\", \"_timeout\": null, \"_unique_id\": \"ed8421d5cb4041878c02cc05746845da\", \"_context_user\": null, \"_context_request_id\": \"req-8cf57681-cbea-4862-96d3-a03270c232f7\", \"_context_is_admin\": true, \"_context_roles\": [], \"_context_service_catalog\": [{\"type\": \"image\", \"name\": \"glance\", \"endpoints\": [{\"region\": \"RegionOne\", \"publicURL\": \"http://ctl:9292\"}]}]}"}`

func TestDecodePythonRequest(t *testing.T) {
	r, err := DecodeRequest([]byte(pythonCall))
	if err != nil {
		t.Fatal(err)
	}
	if r.Method != "object_action" || r.Version != "3.0" || r.Namespace != "" || r.MsgID != "fcf9f46c61724f3d8596072cd750dbce" ||
		r.ReplyQ != "reply_fc6b7fcc9a7e4c86aea32264db3d51c4" || r.ClientTimeout != 0 || r.UniqueID != "ed8421d5cb4041878c02cc05746845da" || !r.IsCall() {
		t.Fatalf("request = %+v", r)
	}
	if r.Context.RequestID() != "req-8cf57681-cbea-4862-96d3-a03270c232f7" || !r.Context.IsAdmin() || r.Context.UserID() != "" {
		t.Fatalf("context = %v", r.Context)
	}
	if _, ok := r.Context["user"]; !ok {
		t.Fatal("null context key dropped")
	}
	cat, err := r.Context.ServiceCatalog()
	if err != nil || len(cat) != 1 || cat[0].Type != "image" || len(cat[0].Endpoints) != 1 {
		t.Fatalf("catalog = %+v, %v", cat, err)
	}
	var objmethod string
	if err := r.Arg("objmethod", &objmethod); err != nil || objmethod != "save" {
		t.Fatalf("objmethod = %q, %v", objmethod, err)
	}
	if !bytes.Contains(r.Args["objinst"], []byte(`"nova_object.version": "1.22"`)) {
		t.Fatalf("objinst not kept verbatim: %s", r.Args["objinst"])
	}
}

func TestRequestRoundTrip(t *testing.T) {
	in := &Request{Method: "build_and_run_instance", Version: "6.0", Namespace: "baseapi",
		Args:  map[string]json.RawMessage{"n": json.RawMessage(`12345678901234567890`), "s": json.RawMessage(`"<a&b>"`)},
		MsgID: "m", ReplyQ: "reply_q", ClientTimeout: 60 * time.Second, UniqueID: "u",
		Context: Context{"request_id": "req-1", "big": json.Number("12345678901234567890"), "none": nil}}
	body, err := EncodeRequest(in)
	if err != nil {
		t.Fatal(err)
	}
	var outer map[string]string
	if err := json.Unmarshal(body, &outer); err != nil || len(outer) != 2 || outer["oslo.version"] != "2.0" {
		t.Fatalf("envelope = %s (%v)", body, err)
	}
	var inner map[string]any
	if err := json.Unmarshal([]byte(outer["oslo.message"]), &inner); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"method", "args", "version", "namespace", "_msg_id", "_reply_q", "_timeout", "_unique_id", "_context_request_id", "_context_none"} {
		if _, ok := inner[k]; !ok {
			t.Errorf("inner message lacks %s: %s", k, outer["oslo.message"])
		}
	}
	out, err := DecodeRequest(body)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip:\n in  %+v\n out %+v", in, out)
	}
	// A cast carries no call fields at all.
	cast, _ := EncodeRequest(&Request{Method: "m", UniqueID: "u"})
	if bytes.Contains(cast, []byte("_msg_id")) || bytes.Contains(cast, []byte("_timeout")) || bytes.Contains(cast, []byte("version")) && !bytes.Contains(cast, []byte("oslo.version")) {
		t.Fatalf("cast body = %s", cast)
	}
}

func TestDecodeRequestVariants(t *testing.T) {
	// A 1.0 message is the dict itself.
	r, err := DecodeRequest([]byte(`{"method": "ping", "args": {"arg": 1}, "namespace": "baseapi", "_timeout": "10"}`))
	if err != nil || r.Method != "ping" || r.Namespace != "baseapi" || r.ClientTimeout != 10*time.Second {
		t.Fatalf("1.0 message = %+v, %v", r, err)
	}
	timeouts := map[string]time.Duration{`null`: 0, `60`: time.Minute, `4.7`: 4 * time.Second, `"5"`: 5 * time.Second, `"x"`: 0, `-3`: 0, `true`: time.Second, `1e300`: 0}
	for raw, want := range timeouts {
		if got := clientTimeout(json.RawMessage(raw)); got != want {
			t.Errorf("_timeout %s -> %v, want %v", raw, got, want)
		}
	}
	bad := []string{
		`[]`, `"x"`, `{"oslo.version": "3.0", "oslo.message": "{}"}`, `{"oslo.version": "2.1", "oslo.message": "{}"}`,
		`{"oslo.version": 2, "oslo.message": "{}"}`, `{"oslo.version": "2.0", "oslo.message": {}}`,
		`{"oslo.version": "2.0", "oslo.message": "[1]"}`, `{"method": 5}`, `{"args": {}}`, `{"method": "m", "args": []}`,
		`{"method": "m"} trailing`,
	}
	for _, b := range bad {
		if _, err := DecodeRequest([]byte(b)); !errors.Is(err, ErrInvalidMessage) {
			t.Errorf("DecodeRequest(%s) err = %v, want ErrInvalidMessage", b, err)
		}
	}
	// What can be read is returned with the error, so the caller gets a failure reply.
	r, err = DecodeRequest([]byte(`{"_msg_id": "m", "_reply_q": "q", "args": 5}`))
	if err == nil || r == nil || r.MsgID != "m" || r.ReplyQ != "q" {
		t.Fatalf("partial = %+v, %v", r, err)
	}
}

func TestReplyWire(t *testing.T) {
	fail := `{"class": "InstanceNotFound", "module": "nova.exception", "message": "Instance x could not be found.", "tb": ["Traceback"], "args": ["Instance x could not be found."], "kwargs": {"instance_id": "x", "code": 404}}`
	body, err := EncodeReply(&Reply{Failure: &fail, Ending: true, MsgID: "m", UniqueID: "u"})
	if err != nil {
		t.Fatal(err)
	}
	var outer map[string]string
	_ = json.Unmarshal(body, &outer)
	var inner map[string]any
	if err := json.Unmarshal([]byte(outer["oslo.message"]), &inner); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"result": nil, "failure": fail, "ending": true, "_msg_id": "m", "_unique_id": "u"}
	if !reflect.DeepEqual(inner, want) {
		t.Fatalf("reply = %v, want %v", inner, want)
	}
	r, err := DecodeReply(body)
	if err != nil || r.Failure == nil || *r.Failure != fail || !r.Ending || string(r.Result) != "null" {
		t.Fatalf("decoded = %+v, %v", r, err)
	}
	re := parseFailure(*r.Failure)
	if re.Class != "InstanceNotFound" || re.Module != "nova.exception" || re.Kwargs["instance_id"] != "x" || len(re.Args) != 1 {
		t.Fatalf("failure = %+v", re)
	}
	// Older senders: result then a separate ending message without result.
	old, _ := DecodeReply([]byte(`{"oslo.version": "2.0", "oslo.message": "{\"result\": 5, \"failure\": null, \"_msg_id\": \"m\"}"}`))
	if string(old.Result) != "5" || old.Ending {
		t.Fatalf("old-style reply = %+v", old)
	}
}

func TestVersionCompatible(t *testing.T) {
	// Expected values from oslo_messaging._utils.version_is_compatible.
	cases := []struct {
		imp, req string
		want     bool
	}{
		{"6.1", "6.0", true}, {"6.1", "6.1", true}, {"6.1", "6.2", false}, {"6.1", "5.13", false},
		{"5.13", "5.2", true}, {"1.0", "1.0", true}, {"1.1", "1.0.5", true}, {"1.1.2", "1.1.3", false},
		{"1.1.2", "1.1.1", true}, {"2.0", "2.0", true}, {"2.0", "2.1", false}, {"2.0", "3.0", false},
		{"", "9.9", true}, {"1.0", "", false},
	}
	for _, c := range cases {
		if got, err := versionCompatible(c.imp, c.req); err != nil || got != c.want {
			t.Errorf("versionCompatible(%q, %q) = %v, %v, want %v", c.imp, c.req, got, err, c.want)
		}
	}
	if _, err := versionCompatible("6.1", "six"); err == nil {
		t.Error("garbage version accepted")
	}
}

func TestFailureSerialization(t *testing.T) {
	s, err := serializeFailure(&RemoteError{Class: "InstanceNotFound_Remote", Module: "nova.exception_Remote", Message: "m"})
	if err != nil {
		t.Fatal(err)
	}
	var w map[string]any
	_ = json.Unmarshal([]byte(s), &w)
	if w["class"] != "InstanceNotFound" || w["module"] != "nova.exception" || w["tb"] == nil || w["args"] == nil || w["kwargs"] == nil {
		t.Fatalf("failure = %s", s)
	}
	e := failureFor("m", errors.New("boom"))
	if e.Class != "NovaException" || e.Module != ModuleNovaException || e.Kwargs["code"] != 500 || e.Args[0] != "boom" {
		t.Fatalf("generic failure = %+v", e)
	}
	var re *RemoteError
	if err := error(noSuchMethod("x")); !errors.Is(err, ErrNoSuchMethod) || !errors.As(err, &re) || re.Args[0] != "Endpoint does not support RPC method x" {
		t.Fatalf("noSuchMethod = %v", err)
	}
	if !errors.Is(unsupportedVersion("7.0", "m"), ErrUnsupportedVersion) {
		t.Fatal("unsupportedVersion does not match ErrUnsupportedVersion")
	}
}

func TestContextRedaction(t *testing.T) {
	c := Context{"request_id": "req-1", "auth_token": "gAAAAsecret", "user_id": "u"}
	for _, s := range []string{c.String(), c.GoString()} {
		if bytes.Contains([]byte(s), []byte("gAAAA")) {
			t.Fatalf("token shown: %s", s)
		}
	}
	if c.AuthToken() != "gAAAAsecret" {
		t.Fatal("token accessor")
	}
	admin := NewAdminContext(time.Date(2026, 11, 23, 18, 13, 46, 520657000, time.UTC))
	if admin["timestamp"] != "2026-11-23T18:13:46.520657" || !admin.IsAdmin() || len(admin) != 25 {
		t.Fatalf("admin context = %v (%d keys)", admin, len(admin))
	}
}

func FuzzDecodeEnvelope(f *testing.F) {
	f.Add([]byte(pythonCall))
	f.Add([]byte(`{"oslo.version": "2.0", "oslo.message": "{\"result\": null, \"failure\": \"{\\\"class\\\": \\\"X\\\"}\", \"ending\": true, \"_msg_id\": \"m\"}"}`))
	f.Add([]byte(`{"method": "ping", "args": {"arg": 1}, "_timeout": 1e999}`))
	f.Add([]byte(`{"oslo.version": "2.0", "oslo.message": "{\"_context_x\": [1, {\"a\": null}], \"method\": \"m\", \"args\": {}}"}`))
	f.Add([]byte(`{"oslo.version": "2.0.1", "oslo.message": "{\"method\": \"m\", \"version\": \"6.x\"}"}`))
	f.Add([]byte(`not json`))
	f.Fuzz(func(t *testing.T, body []byte) {
		if r, err := DecodeReply(body); err == nil && r.Failure != nil {
			_ = parseFailure(*r.Failure)
		}
		req, err := DecodeRequest(body)
		if err != nil {
			return
		}
		_, _ = dispatch(t.Context(), []Endpoint{{Version: "6.1", Methods: map[string]HandlerFunc{}}}, req)
		again, err := EncodeRequest(req)
		if err != nil {
			t.Fatalf("re-encoding a decoded request: %v", err)
		}
		back, err := DecodeRequest(again)
		if err != nil {
			t.Fatalf("decoding a re-encoded request: %v\n%s", err, again)
		}
		if back.Method != req.Method || back.Version != req.Version || back.Namespace != req.Namespace || back.MsgID != req.MsgID || len(back.Args) != len(req.Args) || len(back.Context) != len(req.Context) {
			t.Fatalf("round trip changed the request:\n%+v\n%+v", req, back)
		}
	})
}
