#!/bin/bash
# Registry Basic auth (docker-registry with htpasswd): refused without
# credentials with a message naming the host and bento login; bento login
# writes ~/.docker/config.json (or $DOCKER_CONFIG/config.json) as docker
# does, mode 0600; push/pull then work; logout removes the entry; a wrong
# password is refused; the password is never printed or logged.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fixtures/common.sh"
if ! [ -x /usr/bin/docker-registry ] || ! command -v skopeo > /dev/null ||
	! command -v curl > /dev/null; then
	echo "1..0 # SKIP docker-registry, skopeo or curl missing (scripts/install-deps.sh)"
	exit 0
fi
. "$(dirname "$0")/fixtures/registry.sh.inc"
unset DOCKER_CONFIG REGISTRY_AUTH_FILE

PASS=Zq9-s3cr3t-wX7pass
registry_start a --htpasswd "alice:$PASS"
H=127.0.0.1:$REG_a_PORT
CFG=$HOME/.docker/config.json
B64=$(printf 'alice:%s' "$PASS" | base64 -w0)

mkctx "$TMP/ctx" demo

# Every command's output goes to files under $TMP/outs, checked for the password at the end.
mkdir -p "$TMP/outs"
n=0
# keep CMD...: run CMD, keeping its stdout and stderr (exit status kept).
keep() {
	n=$(ls "$TMP/outs" | wc -l)
	"$@" > "$TMP/outs/$n.out" 2> "$TMP/outs/$n.err"
	_rc=$?
	cp "$TMP/outs/$n.out" out
	cp "$TMP/outs/$n.err" err
	return $_rc
}
# save: keep refused's out and err files too.
save() {
	n=$(ls "$TMP/outs" | wc -l)
	cp out "$TMP/outs/$n.out" && cp err "$TMP/outs/$n.err"
}
mode() { stat -c %a "$1"; }

test_expect_success 'setup: build demo:1, the registry asks for Basic auth' '
	bento build ctx --version 1 -o json > b.json 2> /dev/null &&
	jget b.json digest > d &&
	: the layer digests are cached in the store by the first push of a bento,
	: wherever it goes: warm that cache so that a refused push changes nothing &&
	bento push demo:1 "oci:$TMP/warm" > /dev/null 2>&1 &&
	test "$(curl -s -o /dev/null -w "%{http_code}" "http://$H/v2/")" = 401
'

test_expect_success 'push without credentials: exit 5 naming the host and bento login' '
	refused 5 bento push demo:1 "$H/team/demo"; rc=$?; save; test $rc = 0 &&
	grep_q err "$H" && grep_q err "bento login" &&
	! test -e "$CFG"
'

test_expect_success 'pull without credentials: exit 5, store unchanged' '
	refused 5 bento pull "$H/team/demo:1"; rc=$?; save; test $rc = 0 &&
	grep_q err "bento login"
'

test_expect_success 'login: usage errors (no -u, no HOST, empty password) exit 2' '
	refused 2 sh -c "printf %s x | \"$BENTO\" login $H --password-stdin" &&
	refused 2 sh -c "printf %s x | \"$BENTO\" login -u alice --password-stdin" &&
	refused 2 sh -c "printf \"\\n\" | \"$BENTO\" login $H -u alice --password-stdin" &&
	! test -e "$CFG"
'

test_expect_success 'login --password-stdin writes ~/.docker/config.json, mode 0600, base64 auth' '
	keep sh -c "printf %s \"$PASS\" | timeout 60 \"$BENTO\" login $H -u alice --password-stdin" &&
	grep_q out "$H" &&
	test -f "$CFG" && test "$(mode "$CFG")" = 600 &&
	python3 -c "
import json, sys
c = json.load(open(sys.argv[1]))
assert c[\"auths\"][sys.argv[2]][\"auth\"] == sys.argv[3], c
" "$CFG" "$H" "$B64"
'

test_expect_success 'with the credentials: push, skopeo sees it, pull into an empty store verifies' '
	keep bento push demo:1 "$H/team/demo" -o json &&
	cp out push.json && jget push.json manifest > man &&
	timeout 60 skopeo inspect --raw --tls-verify=false --creds "alice:$PASS" \
		"docker://$H/team/demo:1" > raw.json &&
	test "sha256:$(sha256sum < raw.json | cut -c1-64)" = "$(cat man)" &&
	export BENTO_HOME=$TMP/p1 &&
	keep bento pull "$H/team/demo:1" -o json &&
	test "$(jget out digest)" = "$(cat d)" &&
	bento verify --full demo:1 > /dev/null 2>&1
'

test_expect_success 'login keeps the other entries of an existing config.json' '
	python3 -c "
import json, sys
c = json.load(open(sys.argv[1]))
c[\"auths\"][\"other.example:5000\"] = {\"auth\": \"b3RoZXI6eA==\"}
c[\"credHelpers\"] = {\"example.org\": \"none\"}
json.dump(c, open(sys.argv[1], \"w\"))
" "$CFG" &&
	keep sh -c "printf %s \"$PASS\" | timeout 60 \"$BENTO\" login $H -u alice --password-stdin" &&
	python3 -c "
import json, sys
c = json.load(open(sys.argv[1]))
assert c[\"auths\"][\"other.example:5000\"][\"auth\"] == \"b3RoZXI6eA==\", c
assert c[\"credHelpers\"] == {\"example.org\": \"none\"}, c
assert c[\"auths\"][sys.argv[2]][\"auth\"] == sys.argv[3], c
" "$CFG" "$H" "$B64" &&
	test "$(mode "$CFG")" = 600
'

test_expect_success 'logout removes the entry (and only it); push fails again with exit 5' '
	keep bento logout "$H" &&
	python3 -c "
import json, sys
c = json.load(open(sys.argv[1]))
assert sys.argv[2] not in c.get(\"auths\", {}), c
assert \"other.example:5000\" in c[\"auths\"], c
" "$CFG" "$H" &&
	test "$(mode "$CFG")" = 600 &&
	refused 5 bento push demo:1 "$H/team/demo2"; rc=$?; save; test $rc = 0 &&
	grep_q err "bento login"
'

test_expect_success 'login with a wrong password: exit 5, nothing written to config.json' '
	cp "$CFG" cfg.before &&
	refused 5 sh -c "printf %s wrong-password | timeout 60 \"$BENTO\" login $H -u alice --password-stdin" &&
	grep_q err "login failed: wrong user or password" &&
	cmp cfg.before "$CFG" &&
	refused 5 sh -c "printf %s x | timeout 60 \"$BENTO\" login 127.0.0.1:1 -u alice --password-stdin" &&
	cmp cfg.before "$CFG"
'

test_expect_success 'stale credentials (a wrong password in config.json): push and pull exit 5, store unchanged' '
	python3 -c "
import base64, json, sys
c = json.load(open(sys.argv[1]))
c.setdefault(\"auths\", {})[sys.argv[2]] = {\"auth\": base64.b64encode(b\"alice:wrong-password\").decode()}
json.dump(c, open(sys.argv[1], \"w\"))
" "$CFG" "$H" &&
	refused 5 bento push demo:1 "$H/team/demo"; rc=$?; save; test $rc = 0 &&
	grep -qi "auth" err && grep_q err "$H" &&
	export BENTO_HOME=$TMP/p2 && bento list > /dev/null &&
	refused 5 bento pull "$H/team/demo:1"; rc=$?; save; test $rc = 0 &&
	! grep -q wrong-password err out &&
	bento logout "$H" > /dev/null
'

test_expect_success 'DOCKER_CONFIG is honoured: login writes DIR/config.json, push reads it' '
	export DOCKER_CONFIG=$TMP/dc &&
	mkdir -p "$DOCKER_CONFIG" &&
	keep sh -c "printf %s \"$PASS\" | timeout 60 \"$BENTO\" login $H -u alice --password-stdin" &&
	test -f "$DOCKER_CONFIG/config.json" && test "$(mode "$DOCKER_CONFIG/config.json")" = 600 &&
	test "$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[\"auths\"][sys.argv[2]][\"auth\"])" \
		"$DOCKER_CONFIG/config.json" "$H")" = "$B64" &&
	: login with DOCKER_CONFIG set did not write ~/.docker/config.json &&
	python3 -c "import json,sys; sys.exit(sys.argv[2] in json.load(open(sys.argv[1]))[\"auths\"])" "$CFG" "$H" &&
	keep bento push demo:1 "$H/team/dc" -o json &&
	export BENTO_HOME=$TMP/p3 &&
	keep bento pull "$H/team/dc:1" &&
	test "$(list_digest demo:1)" = "$(cat d)"
'

test_expect_success 'DOCKER_CONFIG pointing elsewhere: the ~/.docker credentials are not used' '
	keep sh -c "printf %s \"$PASS\" | timeout 60 \"$BENTO\" login $H -u alice --password-stdin" &&
	export DOCKER_CONFIG=$TMP/empty-dc &&
	refused 5 bento push demo:1 "$H/team/dc2"; rc=$?; save; test $rc = 0 &&
	grep_q err "bento login" &&
	unset DOCKER_CONFIG && bento logout "$H" > /dev/null
'

test_expect_success 'credentials written by skopeo login into ~/.docker/config.json work' '
	rm -f "$CFG" &&
	printf %s "$PASS" | timeout 60 skopeo login --tls-verify=false --authfile "$CFG" \
		-u alice --password-stdin "$H" > /dev/null 2>&1 &&
	keep bento push demo:1 "$H/team/sk" &&
	grep_q out "pushed demo:1 to $H/team/sk:1"
'

# A credential helper as docker runs them: docker-credential-NAME get|store|erase,
# keeping its secrets in a file of its own.
mkdir -p "$TMP/bin"
cat > "$TMP/bin/docker-credential-testvault" <<'EOF'
#!/bin/sh
exec python3 -c '
import json, os, sys
verb, vault = sys.argv[1], sys.argv[2]
data = json.load(open(vault)) if os.path.exists(vault) else {}
inp = sys.stdin.read()
if verb == "store":
    e = json.loads(inp)
    data[e["ServerURL"]] = [e["Username"], e["Secret"]]
elif verb == "get":
    host = inp.strip()
    if host not in data:
        print("credentials not found in native keychain")
        sys.exit(1)
    print(json.dumps({"ServerURL": host, "Username": data[host][0], "Secret": data[host][1]}))
elif verb == "erase":
    if data.pop(inp.strip(), None) is None:
        sys.exit(1)
json.dump(data, open(vault, "w"))
' "$1" "$CRED_VAULT"
EOF
chmod 755 "$TMP/bin/docker-credential-testvault"
export CRED_VAULT=$TMP/vault.json
# auths_entry HOST: config.json's auths entry for HOST, as compact JSON.
auths_entry() {
	python3 -c 'import json, sys; print(json.dumps(json.load(open(sys.argv[1]))["auths"][sys.argv[2]]))' "$CFG" "$1"
}

test_expect_success 'credHelpers: login stores the secret in the helper, config.json keeps an empty entry' '
	rm -f "$CFG" "$CRED_VAULT" && mkdir -p "$(dirname "$CFG")" &&
	printf "{\"credHelpers\": {\"%s\": \"testvault\"}}" "$H" > "$CFG" &&
	export PATH="$TMP/bin:$PATH" &&
	keep sh -c "printf %s \"$PASS\" | timeout 60 \"$BENTO\" login $H -u alice --password-stdin" &&
	test "$(auths_entry "$H")" = "{}" &&
	! grep -qF -- "$B64" "$CFG" && grep -qF -- "$PASS" "$CRED_VAULT" &&
	keep bento push demo:1 "$H/team/helper" && grep_q out "pushed demo:1 to $H/team/helper:1"
'

test_expect_success 'credHelpers: logout erases it from the helper; push is refused again' '
	export PATH="$TMP/bin:$PATH" &&
	keep bento logout "$H" &&
	! grep -qF -- "$PASS" "$CRED_VAULT" &&
	refused 5 bento push demo:1 "$H/team/helper2"; rc=$?; save; test $rc = 0 &&
	grep_q err "bento login" && grep_q err "docker-credential-testvault"
'

test_expect_success 'credsStore: the default helper for every host without a secret in auths' '
	export PATH="$TMP/bin:$PATH" &&
	printf "{\"credsStore\": \"testvault\"}" > "$CFG" &&
	keep sh -c "printf %s \"$PASS\" | timeout 60 \"$BENTO\" login $H -u alice --password-stdin" &&
	! grep -qF -- "$B64" "$CFG" && grep -qF -- "$PASS" "$CRED_VAULT" &&
	keep bento push demo:1 "$H/team/store" && grep_q out "pushed demo:1 to $H/team/store:1" &&
	keep bento logout "$H"
'

test_expect_success 'a helper that is not installed: a clear error naming it, exit 5 (push) and 1 (login)' '
	printf "{\"credHelpers\": {\"%s\": \"nosuchhelper\"}}" "$H" > "$CFG" &&
	refused 5 bento push demo:1 "$H/team/none"; rc=$?; save; test $rc = 0 &&
	grep_q err "docker-credential-nosuchhelper" &&
	refused 1 sh -c "printf %s \"$PASS\" | timeout 60 \"$BENTO\" login $H -u alice --password-stdin" &&
	grep_q err "docker-credential-nosuchhelper" &&
	rm -f "$CFG"
'

test_expect_success 'the password appears in no output, no history and no store file' '
	keep bento history -o json &&
	grep -q "\"push\"" out &&
	ls "$TMP/outs" | wc -l > count && test "$(cat count)" -ge 20 &&
	! grep -rqF -- "$PASS" "$TMP/outs" &&
	! grep -rqF -- "$B64" "$TMP/outs" &&
	! grep -rqaF -- "$PASS" "$BENTO_HOME" "$TMP/p1" "$TMP/p2" "$TMP/p3" &&
	! grep -rqaF -- "$B64" "$BENTO_HOME" "$TMP/p1" "$TMP/p3"
'

test_done
