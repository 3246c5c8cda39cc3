/* Unit tests: minisign-format keys and signatures (lib/sign.c), with the real minisign. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sign.h"
#include "sign_internal.h"
#include "fixture.h"
#include "tap.h"

static char tmpl[] = "/tmp/bento-test-sign.XXXXXX";
static char *base;
static int have_minisign;

static char *tmp_path(const char *rel)
{
	return bento_xasprintf("%s/%s", base, rel);
}

/* The whole file, NUL-terminated; NULL if it cannot be read. */
static char *slurp(const char *path, size_t *len)
{
	struct bento_buf b = BENTO_BUF_INIT;
	char chunk[4096];
	ssize_t r;
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return NULL;
	while ((r = read(fd, chunk, sizeof(chunk))) > 0)
		bento_buf_add(&b, chunk, (size_t)r);
	close(fd);
	return bento_buf_detach(&b, len);
}

/* Run a shell command in base with output to base/cmd.out; returns its exit status. */
static int out_has(const char *needle)
{
	char *p = tmp_path("cmd.out"), *s = slurp(p, NULL);
	int found = s && *needle && strstr(s, needle) != NULL;

	if (!found)
		printf("# cmd.out: %s\n", s ? s : "(none)");
	free(p);
	free(s);
	return found;
}

static char *slurp_in(const char *rel)
{
	char *p = tmp_path(rel), *s = slurp(p, NULL);

	free(p);
	return s;
}

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...)
{
	struct bento_buf cmd = BENTO_BUF_INIT;
	va_list ap;
	int st;

	bento_buf_addf(&cmd, "cd '%s' && ( ", base);
	va_start(ap, fmt);
	bento_buf_vaddf(&cmd, fmt, ap);
	va_end(ap);
	bento_buf_adds(&cmd, " ) > cmd.out 2>&1");
	st = system(cmd.buf);
	bento_buf_release(&cmd);
	st = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	if (st != 0)
		out_has("");	/* shows the output */
	return st;
}

static int has(const struct bento_error *e, const char *needle)
{
	int found = strstr(e->msg, needle) != NULL;

	if (!found)
		printf("# message: '%s' lacks '%s'\n", e->msg, needle);
	return found;
}

static void test_base64(void)
{
	static const struct {
		const char *bin, *b64;
	} v[] = {
		{ "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
		{ "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" },
		{ "\xfb\xff", "+/8=" },
	};
	static const char *bad[] = {
		"Zg", "Zg=", "Zg===", "Zh==", "Zm9=", "Zm9v\n", " Zm9v", "Zm 9v", "Zm9*",
		"Zg==Zg==", "Zm-_", "====",
	};
	struct bento_buf b = BENTO_BUF_INIT;

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		bento_buf_reset(&b);
		bento_base64_encode(v[i].bin, strlen(v[i].bin), &b);
		is_str(b.buf, v[i].b64, "base64 encode '%s'", v[i].b64);
		bento_buf_reset(&b);
		bento_buf_adds(&b, "x");
		ok(bento_base64_decode(v[i].b64, strlen(v[i].b64), &b) == 0 &&
		   b.len == 1 + strlen(v[i].bin) && memcmp(b.buf + 1, v[i].bin, b.len - 1) == 0 &&
		   b.buf[b.len] == '\0', "base64 decode '%s' appends", v[i].b64);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		bento_buf_reset(&b);
		bento_buf_adds(&b, "keep");
		ok(bento_base64_decode(bad[i], strlen(bad[i]), &b) == -1 && b.len == 4 &&
		   strcmp(b.buf, "keep") == 0, "base64 rejects bad input %zu (%.*s), buffer unchanged",
		   i, (int)strcspn(bad[i], "\n"), bad[i]);
	}
	bento_buf_release(&b);
}

/* A public key minisign 0.11 made, and the id `minisign -G` printed for it. */
static void test_keyid_vector(void)
{
	static const char file[] = "untrusted comment: minisign public key AEB21FCCF530FB59\n"
				   "RWRZ+zD1zB+yrmwQQjLozQDakvAlwp3QS1tvo6mAiGO/nr3JKUlSilDB\n";
	static const char bare[] = "RWRZ+zD1zB+yrmwQQjLozQDakvAlwp3QS1tvo6mAiGO/nr3JKUlSilDB";
	struct bento_pubkey k, k2;
	struct bento_error e = { 0 };
	struct bento_buf b = BENTO_BUF_INIT;
	char hex[BENTO_KEYID_HEXLEN + 1];

	is_int(bento_pubkey_parse(file, strlen(file), "vec", &k, &e), 0, "parse a minisign public key");
	bento_keyid_hex(k.keyid, hex);
	is_str(hex, "AEB21FCCF530FB59", "key id printed as minisign prints it");
	bento_pubkey_format(&k, &b);
	is_str(b.buf, file, "formatting gives minisign's exact public key file");
	is_int(bento_pubkey_parse(bare, strlen(bare), "arg", &k2, &e), 0, "bare base64 line parses");
	ok(memcmp(&k, &k2, sizeof(k)) == 0, "bare line gives the same key");
	is_int(bento_pubkey_parse(bare, strlen(bare) - 1, "arg", &k2, &e), -BENTO_E_INVALID,
	       "short base64 line is refused");
	ok(has(&e, "arg: truncated or malformed public key"), "message names the input");
	is_int(bento_pubkey_parse("RWRZ", 4, "arg", &k2, &e), -BENTO_E_INVALID, "tiny key refused");
	bento_buf_release(&b);
}

/* Sign msg with k, write MSG and MSG.minisig under base; returns the signature text. */
static char *sign_to_files(const struct bento_seckey *k, const char *name, const char *msg,
			   const char *tc)
{
	struct bento_buf sig = BENTO_BUF_INIT;
	struct bento_error e = { 0 };
	char *mp = tmp_path(name), *sp = bento_xasprintf("%s/%s.minisig", base, name);

	if (bento_sign(k, msg, strlen(msg), tc, NULL, &sig, &e)) {
		printf("# bento_sign: %s\n", e.msg);
		exit(1);
	}
	write_file(mp, msg, strlen(msg));
	write_file(sp, sig.buf, sig.len);
	free(mp);
	free(sp);
	return bento_buf_detach(&sig, NULL);
}

static void test_bento_keys_in_minisign(void)
{
	struct bento_pubkey pub, pub2, fpub;
	struct bento_seckey sk;
	struct bento_error e = { 0 };
	struct bento_sig_info info = { 0 };
	struct bento_buf fmt = BENTO_BUF_INIT;
	char *sec = tmp_path("b.key"), *pubp = tmp_path("b.pub");
	char *usec = tmp_path("u.key"), *upub = tmp_path("u.pub");
	char *sig, *pubtext, *secret;
	struct stat st;
	int rc;

	is_int(bento_key_generate(sec, pubp, "pw1", &pub, &e), 0, "generate an encrypted key (fast KDF)");
	ok(stat(sec, &st) == 0 && (st.st_mode & 07777) == 0600, "secret key file is mode 0600");
	ok(stat(pubp, &st) == 0 && (st.st_mode & 0777) == 0644, "public key file is mode 0644");
	is_int(bento_seckey_encrypted(sec, &e), 1, "it reports itself encrypted");
	secret = slurp(sec, NULL);
	ok(secret && strncmp(secret, "untrusted comment: minisign encrypted secret key\nRWRTY0Iy", 57) == 0,
	   "secret key file starts like minisign's (Ed, Sc, B2)");
	free(secret);
	pubtext = slurp(pubp, NULL);
	bento_pubkey_format(&pub, &fmt);
	is_str(pubtext, fmt.buf, "public key file is exactly bento_pubkey_format()");
	free(pubtext);
	is_int(bento_pubkey_load(pubp, &fpub, &e), 0, "load the public key file");
	ok(memcmp(&fpub, &pub, sizeof(pub)) == 0, "it is the generated key");
	is_int(bento_seckey_load(sec, "pw1", &sk, &e), 0, "load the secret key with its password");
	bento_seckey_public(&sk, &pub2);
	ok(memcmp(&pub2, &pub, sizeof(pub)) == 0, "its public half is the public key");

	sig = sign_to_files(&sk, "m1", "hello bento\n", "bento:demo:1.0 sha256:abc");
	if (have_minisign) {
		rc = run("minisign -Vm m1 -x m1.minisig -p b.pub");
		is_int(rc, 0, "minisign verifies a bento signature by an encrypted bento key");
		ok(out_has("Trusted comment: bento:demo:1.0 sha256:abc"), "minisign prints the trusted comment");
		is_int(run("minisign -H -Vm m1 -x m1.minisig -p b.pub"), 0,
		       "minisign -H accepts it: it is prehashed (ED)");
		/*
		 * Only the key line is compared: minisign 0.11 prints the id in the
		 * comment without zero padding ("%lX"), later versions as %016.
		 */
		is_int(run("printf 'pw1\\n' | minisign -R -s b.key -p r.pub && "
			   "[ \"$(sed -n 2p r.pub)\" = \"$(sed -n 2p b.pub)\" ]"), 0,
		       "minisign -R decrypts bento's key and recreates its public key");
	}
	is_int(bento_sig_verify(&pub, 1, "hello bento\n", 12, sig, strlen(sig), &info, &e), 0,
	       "bento verifies its own signature");
	is_str(info.trusted_comment, "bento:demo:1.0 sha256:abc", "trusted comment returned");
	bento_sig_info_release(&info);
	free(sig);

	is_int(bento_key_generate(usec, upub, NULL, NULL, &e), 0, "generate an unencrypted key");
	is_int(bento_seckey_encrypted(usec, &e), 0, "it reports itself unencrypted");
	bento_seckey_wipe(&sk);
	is_int(bento_seckey_load(usec, NULL, &sk, &e), 0, "load it without a password");
	is_int(bento_pubkey_load(upub, &pub, &e), 0, "load its public key");
	sig = sign_to_files(&sk, "m2", "second message", "unencrypted key");
	if (have_minisign) {
		is_int(run("minisign -Vm m2 -x m2.minisig -p u.pub"), 0,
		       "minisign verifies a bento signature by an unencrypted bento key");
		ok(out_has("Trusted comment: unencrypted key"), "and prints its trusted comment");
		/* minisign signs with bento's keys too: both secret key formats are read. */
		is_int(run("minisign -S -s u.key -m m2 -x m2.ms -t 'by minisign'"), 0,
		       "minisign signs with bento's unencrypted key");
		free(sig);
		sig = slurp_in("m2.ms");
		ok(sig && bento_sig_verify(&pub, 1, "second message", 14, sig, strlen(sig), &info, &e) == 0 &&
		   strcmp(info.trusted_comment, "by minisign") == 0, "bento verifies it");
		bento_sig_info_release(&info);
		is_int(run("printf 'pw1\\n' | minisign -S -s b.key -m m2 -x m2.ms2 -t enc"), 0,
		       "minisign signs with bento's encrypted key and its password");
		free(sig);
		sig = slurp_in("m2.ms2");
		ok(sig && bento_sig_verify(&fpub, 1, "second message", 14, sig, strlen(sig), NULL, &e) == 0,
		   "bento verifies that too");
		is_int(run("minisign -R -s u.key -p r2.pub && "
			   "[ \"$(sed -n 2p r2.pub)\" = \"$(sed -n 2p u.pub)\" ]"), 0,
		       "minisign -R recreates the public key of bento's unencrypted key");
	}
	free(sig);
	bento_seckey_wipe(&sk);
	bento_buf_release(&fmt);
	free(sec);
	free(pubp);
	free(usec);
	free(upub);
}

static void test_minisign_keys_in_bento(void)
{
	struct bento_pubkey pub, mine;
	struct bento_seckey sk;
	struct bento_error e = { 0 };
	struct bento_sig_info info = { 0 };
	char *sec = tmp_path("ms.key"), *pubp = tmp_path("ms.pub");
	char *sec2 = tmp_path("ms2.key"), *pub2p = tmp_path("ms2.pub");
	char *sig, *sigpath;

	if (!have_minisign) {
		ok(1, "# SKIP minisign not installed");
		return;
	}
	is_int(run("minisign -G -p ms.pub -s ms.key -W"), 0, "minisign -G -W makes an unencrypted key");
	is_int(bento_seckey_encrypted(sec, &e), 0, "bento sees it unencrypted");
	is_int(bento_seckey_load(sec, NULL, &sk, &e), 0, "bento loads it (its checksum is zero)");
	is_int(bento_pubkey_load(pubp, &pub, &e), 0, "bento loads minisign's public key");
	bento_seckey_public(&sk, &mine);
	ok(memcmp(&mine, &pub, sizeof(pub)) == 0, "public halves agree");
	sig = sign_to_files(&sk, "m3", "signed with a minisign key", "minisign-made key");
	is_int(run("minisign -Vm m3 -x m3.minisig -p ms.pub"), 0, "minisign verifies bento's signature");
	ok(out_has("Trusted comment: minisign-made key"), "with the trusted comment");
	free(sig);
	bento_seckey_wipe(&sk);

	/* Signatures made by minisign itself: prehashed, legacy, default comment. */
	sigpath = tmp_path("m4");
	write_file(sigpath, "minisign signed this", 20);
	free(sigpath);
	is_int(run("minisign -S -m m4 -s ms.key -t 'trusted text'"), 0, "minisign -S signs");
	sigpath = tmp_path("m4.minisig");
	sig = slurp(sigpath, NULL);
	ok(sig && bento_sig_verify(&pub, 1, "minisign signed this", 20, sig, strlen(sig), &info, &e) == 0,
	   "bento verifies a minisign signature");
	is_str(info.trusted_comment, "trusted text", "trusted comment as minisign wrote it");
	bento_sig_info_release(&info);
	is_int(bento_sig_verify(&pub, 1, "minisign signed thiS", 20, sig, strlen(sig), NULL, &e),
	       -BENTO_E_VERIFY, "a changed message fails against minisign's signature");
	free(sig);
	is_int(run("minisign -S -l -m m4 -x m4.legacy -s ms.key -t legacy"), 0, "minisign -S -l signs (legacy Ed)");
	sig = slurp_in("m4.legacy");
	ok(sig && strstr(sig, "\nRW") != NULL, "legacy signature starts with \"Ed\"");
	ok(sig && bento_sig_verify(&pub, 1, "minisign signed this", 20, sig, strlen(sig), &info, &e) == 0,
	   "bento verifies a legacy signature");
	is_str(info.trusted_comment, "legacy", "legacy trusted comment");
	bento_sig_info_release(&info);
	is_int(bento_sig_verify(&pub, 1, "minisign signed thi", 19, sig, strlen(sig), NULL, &e),
	       -BENTO_E_VERIFY, "a changed message fails against a legacy signature");
	ok(has(&e, "does not match"), "legacy mismatch says does not match");
	free(sig);
	is_int(run("minisign -S -m m4 -x m4.default -s ms.key"), 0, "minisign signs with its default comment");
	sig = slurp_in("m4.default");
	ok(sig && bento_sig_verify(&pub, 1, "minisign signed this", 20, sig, strlen(sig), &info, &e) == 0 &&
	   strstr(info.trusted_comment, "\tfile:m4") != NULL,
	   "bento verifies minisign's default comment (with its TAB)");
	bento_sig_info_release(&info);
	free(sig);
	free(sigpath);

	/* An encrypted minisign key: default scrypt limits (1 GiB, a few seconds), once. */
	is_int(run("printf 'pw\\npw\\n' | minisign -G -p ms2.pub -s ms2.key"), 0,
	       "minisign -G makes an encrypted key from a piped password");
	is_int(bento_seckey_encrypted(sec2, &e), 1, "bento sees it encrypted");
	is_int(bento_seckey_load(sec2, "pw", &sk, &e), 0, "bento decrypts it");
	is_int(bento_pubkey_load(pub2p, &pub, &e), 0, "and loads its public key");
	sig = sign_to_files(&sk, "m5", "encrypted minisign key", "enc");
	is_int(run("minisign -Vm m5 -x m5.minisig -p ms2.pub"), 0,
	       "minisign verifies bento's signature by that key");
	free(sig);
	bento_seckey_wipe(&sk);
	free(sec);
	free(pubp);
	free(sec2);
	free(pub2p);
}

/* Replace the first occurrence of from in s (same length). */
static void patch(char *s, const char *from, const char *to)
{
	char *p = strstr(s, from);

	if (!p || strlen(from) != strlen(to)) {
		printf("# patch: '%s' not found\n", from);
		exit(1);
	}
	memcpy(p, to, strlen(to));
}

static void test_determinism_and_failures(void)
{
	struct bento_pubkey pub, other, pair[2];
	struct bento_seckey sk, sk2;
	struct bento_error e = { 0 };
	struct bento_sig_info info = { 0 };
	struct bento_buf a = BENTO_BUF_INIT, b = BENTO_BUF_INIT;
	char *sec = tmp_path("d.key"), *pubp = tmp_path("d.pub"), *osec = tmp_path("o.key"),
	     *opub = tmp_path("o.pub");
	const char *msg = "{\"name\":\"demo\"}";
	size_t len = strlen(msg), n;
	char hex[BENTO_KEYID_HEXLEN + 1], *t, *p;
	unsigned char keyid[BENTO_KEYID_LEN], raw[64];

	bento_key_generate(sec, pubp, "secret", &pub, &e);
	bento_key_generate(osec, opub, NULL, &other, &e);
	is_int(bento_seckey_load(sec, "secret", &sk, &e), 0, "load key d");
	is_int(bento_sign(&sk, msg, len, "demo:1 sha256:00", NULL, &a, &e), 0, "sign");
	is_int(bento_seckey_load(sec, "secret", &sk2, &e), 0, "load key d again");
	is_int(bento_sign(&sk2, msg, len, "demo:1 sha256:00", NULL, &b, &e), 0, "sign again");
	ok(a.len == b.len && memcmp(a.buf, b.buf, a.len) == 0, "same key, message, comment: identical bytes");
	bento_keyid_hex(pub.keyid, hex);
	t = bento_xasprintf("untrusted comment: signature from bento secret key %s\nRU", hex);
	ok(strncmp(a.buf, t, strlen(t)) == 0, "default untrusted comment names the key; alg is ED");
	free(t);
	ok(strstr(a.buf, "\ntrusted comment: demo:1 sha256:00\n") != NULL && a.buf[a.len - 1] == '\n',
	   "trusted comment line and final newline");
	is_int(bento_sig_keyid(a.buf, a.len, keyid, &e), 0, "key id of a signature");
	ok(memcmp(keyid, pub.keyid, BENTO_KEYID_LEN) == 0, "is the signer's");
	bento_buf_reset(&b);
	is_int(bento_sign(&sk, msg, len, "demo:1 sha256:00", "custom note", &b, &e), 0, "sign with untrusted comment");
	ok(strncmp(b.buf, "untrusted comment: custom note\n", 31) == 0, "untrusted comment used");
	ok(bento_sig_verify(&pub, 1, msg, len, b.buf, b.len, NULL, &e) == 0, "untrusted comment is not signed: verifies");

	/* which key verified */
	pair[0] = other;
	pair[1] = pub;
	ok(bento_sig_verify(pair, 2, msg, len, a.buf, a.len, &info, &e) == 0 && info.key_index == 1 &&
	   memcmp(info.keyid, pub.keyid, BENTO_KEYID_LEN) == 0, "key_index names the key that verified");
	bento_sig_info_release(&info);
	bento_sig_info_release(&info);

	/* flipped message byte */
	t = bento_xstrdup(msg);
	t[3] ^= 1;
	is_int(bento_sig_verify(&pub, 1, t, len, a.buf, a.len, &info, &e), -BENTO_E_VERIFY, "flipped message byte");
	ok(has(&e, "does not match") && has(&e, hex), "message says does not match and names the key");
	ok(info.trusted_comment == NULL, "info untouched on failure");
	free(t);
	is_int(bento_sig_verify(&pub, 1, msg, len - 1, a.buf, a.len, NULL, &e), -BENTO_E_VERIFY, "truncated message");

	/* flipped byte in the signature's base64 (still valid base64, in the sig part) */
	t = bento_xstrndup(a.buf, a.len);
	p = strchr(t, '\n') + 1 + 50;
	*p = *p == 'A' ? 'B' : 'A';
	is_int(bento_sig_verify(&pub, 1, msg, len, t, a.len, NULL, &e), -BENTO_E_VERIFY, "altered signature");
	ok(has(&e, "does not match"), "says does not match");
	free(t);

	/* altered trusted comment; altered global signature */
	t = bento_xstrndup(a.buf, a.len);
	patch(t, "sha256:00", "sha256:01");
	is_int(bento_sig_verify(&pub, 1, msg, len, t, a.len, NULL, &e), -BENTO_E_VERIFY, "altered trusted comment");
	ok(has(&e, "trusted comment was altered") && has(&e, hex), "says trusted comment was altered");
	free(t);
	t = bento_xstrndup(a.buf, a.len);
	p = strstr(t, "sha256:00\n") + 10 + 20;
	*p = *p == 'A' ? 'B' : 'A';
	is_int(bento_sig_verify(&pub, 1, msg, len, t, a.len, NULL, &e), -BENTO_E_VERIFY, "altered global signature");
	ok(has(&e, "trusted comment was altered"), "is reported as an altered comment");
	free(t);

	/* untrusted signer */
	is_int(bento_sig_verify(&other, 1, msg, len, a.buf, a.len, NULL, &e), -BENTO_E_VERIFY, "key not in the list");
	ok(has(&e, "not trusted") && has(&e, hex), "says not trusted, names the key id");
	is_int(bento_sig_verify(NULL, 0, msg, len, a.buf, a.len, NULL, &e), -BENTO_E_VERIFY, "no keys at all");
	/* a key claiming the signer's id but another public key */
	pair[0] = other;
	memcpy(pair[0].keyid, pub.keyid, BENTO_KEYID_LEN);
	is_int(bento_sig_verify(pair, 1, msg, len, a.buf, a.len, NULL, &e), -BENTO_E_VERIFY, "same id, other key");
	ok(has(&e, "does not match"), "fails as not matching");
	ok(bento_sig_verify(pair, 2, msg, len, a.buf, a.len, &info, &e) == 0 && info.key_index == 1,
	   "an id collision does not hide the real key");
	bento_sig_info_release(&info);

	/* malformed signatures */
	{
		static const char *bad[] = {
			"", "garbage", "untrusted comment: x\n", "untrusted comment: x\nRUQ=\n",
		};
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
			is_int(bento_sig_verify(&pub, 1, msg, len, bad[i], strlen(bad[i]), NULL, &e),
			       -BENTO_E_VERIFY, "malformed signature %zu", i);
		ok(has(&e, "malformed"), "says malformed");
		is_int(bento_sig_keyid("garbage", 7, keyid, &e), -BENTO_E_VERIFY, "sig_keyid on garbage");
	}
	n = strchr(strstr(a.buf, "trusted comment:"), '\n') - a.buf + 1;
	is_int(bento_sig_verify(&pub, 1, msg, len, a.buf, n, NULL, &e), -BENTO_E_VERIFY,
	       "signature without its global signature line");
	bento_buf_reset(&b);
	bento_buf_add(&b, a.buf, a.len);
	bento_buf_adds(&b, "extra\n");
	is_int(bento_sig_verify(&pub, 1, msg, len, b.buf, b.len, NULL, &e), -BENTO_E_VERIFY, "trailing junk refused");
	bento_buf_reset(&b);
	bento_buf_add(&b, a.buf, a.len - 1);
	is_int(bento_sig_verify(&pub, 1, msg, len, b.buf, b.len, NULL, &e), 0, "missing final newline is fine");
	t = bento_xstrndup(a.buf, a.len);
	patch(t, "\nRU", "\nRX");
	is_int(bento_sig_verify(&pub, 1, msg, len, t, a.len, NULL, &e), -BENTO_E_VERIFY, "unknown algorithm");
	ok(has(&e, "unsupported signature algorithm"), "says unsupported algorithm");
	free(t);
	t = bento_xstrndup(a.buf, a.len);
	patch(t, "demo:1 ", "demo:1\x01");
	is_int(bento_sig_verify(&pub, 1, msg, len, t, a.len, NULL, &e), -BENTO_E_VERIFY,
	       "control character in trusted comment");
	free(t);

	/* bad comments when signing */
	{
		char big[1100];

		memset(big, 'x', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		bento_buf_reset(&b);
		is_int(bento_sign(&sk, msg, len, "two\nlines", NULL, &b, &e), -BENTO_E_USAGE, "newline in trusted comment");
		is_int(bento_sign(&sk, msg, len, "bell\a", NULL, &b, &e), -BENTO_E_USAGE, "control char in trusted comment");
		is_int(bento_sign(&sk, msg, len, "bad \xff utf8", NULL, &b, &e), -BENTO_E_USAGE, "invalid UTF-8");
		is_int(bento_sign(&sk, msg, len, big, NULL, &b, &e), -BENTO_E_USAGE, "trusted comment over 1024 bytes");
		is_int(bento_sign(&sk, msg, len, "ok", "a\nb", &b, &e), -BENTO_E_USAGE, "newline in untrusted comment");
		ok(b.len == 0, "nothing written on refusal");
		big[1024] = '\0';
		is_int(bento_sign(&sk, msg, len, big, NULL, &b, &e), 0, "a 1024-byte trusted comment is fine");
		ok(bento_sig_verify(&pub, 1, msg, len, b.buf, b.len, NULL, &e) == 0, "and verifies");
	}

	/* raw Ed25519 for DSSE */
	bento_ed25519_sign(&sk, msg, len, raw);
	is_int(bento_ed25519_verify(&pub, msg, len, raw), 0, "raw Ed25519 verifies");
	raw[10] ^= 0x40;
	is_int(bento_ed25519_verify(&pub, msg, len, raw), -BENTO_E_VERIFY, "flipped raw signature fails");
	raw[10] ^= 0x40;
	is_int(bento_ed25519_verify(&other, msg, len, raw), -BENTO_E_VERIFY, "other key fails");

	bento_seckey_wipe(&sk);
	bento_seckey_wipe(&sk2);
	{
		const unsigned char *z = (const unsigned char *)&sk;
		size_t i = 0;

		while (i < sizeof(sk) && z[i] == 0)
			i++;
		ok(i == sizeof(sk), "wipe zeroes the key");
	}
	bento_buf_release(&a);
	bento_buf_release(&b);
	free(sec);
	free(pubp);
	free(osec);
	free(opub);
}

/*
 * Copy src to dst cut to n bytes, or when n is 0 with the base64 character
 * at off replaced by another valid one.
 */
static void damaged_copy(const char *src, const char *dst, size_t n, size_t off)
{
	size_t len;
	char *s = slurp(src, &len);
	struct stat st;

	if (!s || off >= len || stat(src, &st) < 0)
		exit(1);
	if (n == 0)
		s[off] = s[off] == 'A' ? 'B' : 'A';
	write_file(dst, s, n ? n : len);
	if (chmod(dst, st.st_mode & 0777) < 0)	/* a copy, mode and all */
		exit(1);
	free(s);
}

/* A secret key file: mode 0600, as the readers demand. */
static void write_secret(const char *path, const void *p, size_t n)
{
	write_file(path, p, n);
	if (chmod(path, 0600) < 0)
		exit(1);
}

static void test_key_file_failures(void)
{
	struct bento_pubkey pub;
	struct bento_seckey sk;
	struct bento_error e = { 0 };
	char *sec = tmp_path("d.key"), *pubp = tmp_path("d.pub"), *usec = tmp_path("o.key");
	char *bad = tmp_path("bad.key"), *badp = tmp_path("bad.pub");
	char *nx = tmp_path("nx.key"), *nxp = tmp_path("nx.pub"), *link = tmp_path("link.key");
	char *target = tmp_path("target.key");
	char junk[5000];
	struct stat st;

	memset(&sk, 0x55, sizeof(sk));
	is_int(bento_seckey_load(sec, "Zq9#pw", &sk, &e), -BENTO_E_INVALID, "wrong password");
	ok(has(&e, "wrong password") && has(&e, sec), "says wrong password and names the file");
	ok(strstr(e.msg, "Zq9#pw") == NULL, "the password is not in the message");
	ok(((unsigned char *)&sk)[0] == 0x55, "output untouched on failure");
	is_int(bento_seckey_load(sec, NULL, &sk, &e), -BENTO_E_INVALID, "encrypted key without a password");
	ok(has(&e, sec), "names the file");
	is_int(bento_seckey_load(sec, "", &sk, &e), -BENTO_E_INVALID, "empty password is a wrong one");

	/* truncated files */
	damaged_copy(sec, bad, 120, 0);
	is_int(bento_seckey_load(bad, "secret", &sk, &e), -BENTO_E_INVALID, "truncated secret key");
	ok(has(&e, "truncated or malformed secret key") && has(&e, bad), "says truncated, names the file");
	is_int(bento_seckey_encrypted(bad, &e), -BENTO_E_INVALID, "encrypted() on a truncated key");
	damaged_copy(sec, bad, 40, 0);
	is_int(bento_seckey_load(bad, "secret", &sk, &e), -BENTO_E_INVALID, "secret key cut inside the comment");
	damaged_copy(pubp, badp, 80, 0);
	is_int(bento_pubkey_load(badp, &pub, &e), -BENTO_E_INVALID, "truncated public key");
	ok(has(&e, "truncated or malformed public key") && has(&e, badp), "says truncated, names the file");
	damaged_copy(pubp, badp, 56, 0);
	is_int(bento_pubkey_load(badp, &pub, &e), -BENTO_E_INVALID, "public key with only its comment line");
	write_file(badp, "RWRZ+zD1zB+yrmwQQjLozQDakvAlwp3QS1tvo6mAiGO/nr3JKUlSilDB\n", 57);
	is_int(bento_pubkey_load(badp, &pub, &e), -BENTO_E_INVALID, "a key file needs its comment line");

	/* damage inside the key */
	damaged_copy(sec, bad, 0, 49 + 150);
	is_int(bento_seckey_load(bad, "secret", &sk, &e), -BENTO_E_INVALID, "flipped bit in the encrypted part");
	ok(has(&e, "wrong password (or damaged key)"), "shows as a checksum mismatch");
	damaged_copy(usec, bad, 0, 51 + 150);
	is_int(bento_seckey_load(bad, NULL, &sk, &e), -BENTO_E_INVALID, "flipped bit in an unencrypted key");
	ok(has(&e, "damaged secret key"), "says damaged");
	damaged_copy(sec, bad, 0, 49 + 2);
	is_int(bento_seckey_load(bad, "secret", &sk, &e), -BENTO_E_INVALID, "damaged algorithm tag");
	ok(has(&e, "unsupported"), "says unsupported");
	damaged_copy(pubp, badp, 0, 56 + 1);
	is_int(bento_pubkey_load(badp, &pub, &e), -BENTO_E_INVALID, "public key with another algorithm");
	ok(has(&e, "unsupported public key algorithm"), "says unsupported");

	/*
	 * A key asking scrypt for more than minisign writes (opslimit 2^25,
	 * memlimit 1 GiB) is refused before deriving, and before a password
	 * is asked for: quickly, without the memory.
	 */
	{
		static const struct { uint64_t ops, mem; int ok; } lim[] = {
			{ 33554432, 1073741824, 1 },		/* minisign's own: fine */
			{ 33554432 + 1, 1073741824, 0 },
			{ 33554432, 1073741824 + 1, 0 },
			{ 4 * 33554432ULL, 1073741824, 0 },	/* accepted until this was bounded */
			{ 32768, 4 * 1073741824ULL, 0 },
			{ UINT64_MAX, UINT64_MAX, 0 },
			{ 0, 0, 1 },
		};
		struct bento_buf raw = BENTO_BUF_INIT, txt = BENTO_BUF_INIT;
		char *orig = slurp(sec, NULL), *line = orig ? strchr(orig, '\n') + 1 : NULL;

		ok(line && bento_base64_decode(line, strcspn(line, "\n"), &raw) == 0 && raw.len == 158,
		   "decode our own secret key");
		for (size_t i = 0; i < sizeof(lim) / sizeof(lim[0]); i++) {
			struct timespec t0, t1;

			for (int b = 0; b < 8; b++) {
				raw.buf[38 + b] = (char)(lim[i].ops >> (8 * b));
				raw.buf[46 + b] = (char)(lim[i].mem >> (8 * b));
			}
			bento_buf_reset(&txt);
			bento_buf_adds(&txt, "untrusted comment: x\n");
			bento_base64_encode(raw.buf, raw.len, &txt);
			bento_buf_addch(&txt, '\n');
			write_secret(bad, txt.buf, txt.len);
			if (lim[i].ok) {
				is_int(bento_seckey_encrypted(bad, &e), 1,
				       "opslimit %llu, memlimit %llu: accepted", (unsigned long long)lim[i].ops,
				       (unsigned long long)lim[i].mem);
				continue;
			}
			is_int(bento_seckey_encrypted(bad, &e), -BENTO_E_INVALID,
			       "opslimit %llu, memlimit %llu: refused before a password is asked",
			       (unsigned long long)lim[i].ops, (unsigned long long)lim[i].mem);
			ok(has(&e, "excessive scrypt limits") && has(&e, bad) &&
			   has(&e, "at most 33554432 and 1073741824"), "says excessive limits: %s", e.msg);
			clock_gettime(CLOCK_MONOTONIC, &t0);
			memset(&sk, 0x55, sizeof(sk));
			is_int(bento_seckey_load(bad, "secret", &sk, &e), -BENTO_E_INVALID, "load refuses it too");
			clock_gettime(CLOCK_MONOTONIC, &t1);
			ok((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 < 500,
			   "at once: scrypt did not run");
			ok(((unsigned char *)&sk)[0] == 0x55 && has(&e, "excessive"), "nothing loaded");
			is_int(bento_seckey_parse(txt.buf, txt.len, "text", "secret", &sk, &e), -BENTO_E_INVALID,
			       "bento_seckey_parse refuses it the same way");
			ok(has(&e, "text: secret key asks for excessive scrypt limits"), "naming what it was given");
		}
		bento_buf_release(&raw);
		bento_buf_release(&txt);
		free(orig);
	}

	/* garbage, empty, oversize, not a file, missing */
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (char)(i * 7 + 3);
	write_secret(bad, junk, 300);
	is_int(bento_seckey_load(bad, "x", &sk, &e), -BENTO_E_INVALID, "garbage secret key");
	write_file(badp, junk, 300);
	is_int(bento_pubkey_load(badp, &pub, &e), -BENTO_E_INVALID, "garbage public key");
	write_secret(bad, "", 0);
	is_int(bento_seckey_load(bad, "x", &sk, &e), -BENTO_E_INVALID, "empty secret key");
	memcpy(junk, "untrusted comment: ", 19);
	memset(junk + 19, 'A', sizeof(junk) - 19);
	write_file(badp, junk, sizeof(junk));
	is_int(bento_pubkey_load(badp, &pub, &e), -BENTO_E_INVALID, "oversize key file");
	ok(has(&e, "larger than"), "says too large");
	is_int(bento_pubkey_load(base, &pub, &e), -BENTO_E_INVALID, "a directory is no key file");
	is_int(bento_pubkey_load(nxp, &pub, &e), -ENOENT, "missing public key");
	ok(has(&e, nxp), "names the missing file");
	is_int(bento_seckey_load(nx, NULL, &sk, &e), -ENOENT, "missing secret key");

	/* existing files */
	is_int(bento_key_generate(sec, nxp, NULL, NULL, &e), -BENTO_E_EXISTS, "existing secret key file");
	ok(has(&e, sec) && has(&e, "already exists"), "says already exists");
	ok(stat(nxp, &st) < 0, "no public key written");
	is_int(bento_key_generate(nx, pubp, NULL, NULL, &e), -BENTO_E_EXISTS, "existing public key file");
	ok(has(&e, pubp), "names it");
	ok(stat(nx, &st) < 0, "no secret key left behind");
	ok(symlink(target, link) == 0, "make a dangling symlink");
	is_int(bento_key_generate(link, nxp, NULL, NULL, &e), -BENTO_E_EXISTS, "a symlink at the secret key path");
	ok(stat(target, &st) < 0 && stat(nxp, &st) < 0, "nothing written through the link");
	is_int(bento_key_generate("/nonexistent-dir/k.key", nxp, NULL, NULL, &e), -ENOENT,
	       "unwritable directory");
	ok(stat(nxp, &st) < 0, "no public key written then");
	if (have_minisign) {
		char *ms = tmp_path("ms.key");

		/* minisign's unencrypted keys carry a zero checksum: the seed check catches this. */
		damaged_copy(ms, bad, 0, 49 + 120);
		is_int(bento_seckey_load(bad, NULL, &sk, &e), -BENTO_E_INVALID,
		       "damaged minisign -W key (zero checksum)");
		ok(has(&e, "public half does not match"), "caught by the seed/public-key check");
		free(ms);
	}
	is_int(bento_seckey_load(sec, "secret", &sk, &e), 0, "the original key still loads");
	bento_seckey_wipe(&sk);

	free(sec);
	free(pubp);
	free(usec);
	free(bad);
	free(badp);
	free(nx);
	free(nxp);
	free(link);
	free(target);
}

/* Key files others could read or write: refused (exit 3), named with the mode and the fix. */
static void test_key_permissions(void)
{
	static const unsigned open_modes[] = { 0644, 0640, 0604, 0620, 0602, 0660, 0666, 0610, 0601 };
	struct bento_pubkey pub;
	struct bento_seckey sk;
	struct bento_error e = { 0 };
	char *sec = tmp_path("o.key"), *pubp = tmp_path("o.pub"), *p = tmp_path("perm.key");
	char *pp = tmp_path("perm.pub"), want[64];
	size_t len;
	char *text = slurp(sec, &len), *ptext = slurp(pubp, NULL);

	write_secret(p, text, len);
	is_int(bento_seckey_load(p, NULL, &sk, &e), 0, "a 0600 secret key loads");
	ok(chmod(p, 0400) == 0 && bento_seckey_load(p, NULL, &sk, &e) == 0, "so does a 0400 one");
	ok(chmod(p, 0700) == 0 && bento_seckey_load(p, NULL, &sk, &e) == 0, "and 0700 (the owner's bits are the owner's)");
	for (size_t i = 0; i < sizeof(open_modes) / sizeof(open_modes[0]); i++) {
		ok(chmod(p, open_modes[i]) == 0, "chmod %04o", open_modes[i]);
		memset(&sk, 0x55, sizeof(sk));
		is_int(bento_seckey_load(p, NULL, &sk, &e), -BENTO_E_UNSAFE, "a %04o secret key is refused", open_modes[i]);
		snprintf(want, sizeof(want), "permissions %04o are too open", open_modes[i]);
		ok(has(&e, p) && has(&e, want) && has(&e, "chmod 600"), "names the file, the mode and the fix");
		ok(((unsigned char *)&sk)[0] == 0x55, "nothing loaded");
		is_int(bento_seckey_encrypted(p, &e), -BENTO_E_UNSAFE, "refused before any password is asked for");
		is_int(bento_exit_code(-BENTO_E_UNSAFE), 3, "exit 3");
	}
	ok(has(&e, "may open it"), "0601: group or others may open it");

	/* public keys: the checks the caller asks for */
	write_file(pp, ptext, strlen(ptext));
	ok(chmod(pp, 0666) == 0, "a world-writable public key");
	is_int(bento_pubkey_load(pp, &pub, &e), 0, "bento_pubkey_load checks nothing (the shim, key list)");
	is_int(bento_pubkey_load_checked(pp, BENTO_PERM_NOT_WRITABLE, &pub, &e), -BENTO_E_UNSAFE,
	       "not writable by others: 0666 refused");
	ok(has(&e, pp) && has(&e, "permissions 0666 are too open: group or others may write it; run chmod go-w"),
	   "says so, with the fix: %s", e.msg);
	ok(chmod(pp, 0664) == 0 && bento_pubkey_load_checked(pp, BENTO_PERM_NOT_WRITABLE, &pub, &e) == -BENTO_E_UNSAFE,
	   "group-writable 0664 refused too");
	ok(chmod(pp, 0644) == 0 && bento_pubkey_load_checked(pp, BENTO_PERM_NOT_WRITABLE | BENTO_PERM_OWNED, &pub, &e) == 0,
	   "0644 and ours: fine");
	if (geteuid() == 0) {
		ok(chown(pp, 4321, 4321) == 0, "given to uid 4321");
		is_int(bento_pubkey_load_checked(pp, BENTO_PERM_OWNED, &pub, &e), -BENTO_E_UNSAFE,
		       "owned by another user: refused");
		ok(has(&e, "owned by uid 4321, not by you (uid 0) or root"), "names the owner: %s", e.msg);
		is_int(bento_pubkey_load_checked(pp, BENTO_PERM_NOT_WRITABLE, &pub, &e), 0,
		       "without BENTO_PERM_OWNED the owner is not checked");
		ok(chown(p, 4321, 4321) == 0 && chmod(p, 0600) == 0 && bento_seckey_load(p, NULL, &sk, &e) == 0,
		   "a 0600 secret key of another user that we can read is used (as ssh does)");
	} else {
		ok(1, "# SKIP not root: cannot give a file to another user");
	}
	bento_seckey_wipe(&sk);
	free(text);
	free(ptext);
	free(sec);
	free(pubp);
	free(p);
	free(pp);
}

int main(void)
{
	if (!(base = mkdtemp(tmpl))) {
		perror("mkdtemp");
		return 1;
	}
	setenv("BENTO_KDF_FAST", "1", 1);
	umask(022);
	have_minisign = system("minisign -v > /dev/null 2>&1") == 0;
	if (!have_minisign)
		printf("# minisign not installed: interop checks skipped\n");

	test_base64();
	test_keyid_vector();
	test_bento_keys_in_minisign();
	test_minisign_keys_in_bento();
	test_determinism_and_failures();
	test_key_file_failures();
	test_key_permissions();

	{
		char *cmd = bento_xasprintf("rm -rf '%s'", base);

		if (system(cmd) != 0)
			printf("# cleanup failed\n");
		free(cmd);
	}
	return tap_done();
}
