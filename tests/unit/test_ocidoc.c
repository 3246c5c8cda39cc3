/*
 * test_ocidoc.c - the strict reader of untrusted OCI JSON: what it takes
 * (bento's own documents, skopeo's, Docker's) and what it refuses, each
 * refusal -BENTO_E_VERIFY naming the source and the field.
 */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "ocidoc.h"
#include "tap.h"

#define D1 "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define D2 "sha256:fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
#define DESC(mt, d, n) "{\"mediaType\":\"" mt "\",\"digest\":\"" d "\",\"size\":" #n "}"
#define LAYER DESC("application/vnd.oci.image.layer.v1.tar", D2, 10240)

static const char bento_manifest[] =
	"{\"annotations\":{\"org.opencontainers.image.title\":\"demo\"},"
	"\"artifactType\":\"application/vnd.bento.bundle.v1\","
	"\"config\":" DESC("application/vnd.bento.manifest.v1+json", D1, 812) ","
	"\"layers\":[{\"annotations\":{\"dev.bento.layer.role\":\"code\"},"
	"\"digest\":\"" D2 "\",\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"size\":10240}],"
	"\"mediaType\":\"" OCI_MANIFEST_V1 "\",\"schemaVersion\":2}";

static const char docker_manifest[] =
	"{\"schemaVersion\":2,\"mediaType\":\"" DOCKER_MANIFEST_V2 "\","
	"\"config\":" DESC("application/vnd.docker.container.image.v1+json", D1, 1457) ","
	"\"layers\":[" DESC("application/vnd.docker.image.rootfs.diff.tar.gzip", D2, 2219949) "]}";

static const char skopeo_index[] =
	"{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"" OCI_MANIFEST_V1 "\","
	"\"digest\":\"" D1 "\",\"size\":405,\"annotations\":"
	"{\"org.opencontainers.image.ref.name\":\"1\"}},"
	"{\"mediaType\":\"" OCI_MANIFEST_V1 "\",\"digest\":\"" D2 "\",\"size\":528,"
	"\"platform\":{\"architecture\":\"arm64\",\"os\":\"linux\",\"variant\":\"v8\"}}]}";

/* Read s; 1 when the result is rc and (for a refusal) the message holds every fragment. */
static int doc(const char *s, const char *hint, unsigned want, int rc, const char *frag)
{
	struct bento_oci_doc d;
	struct bento_error err;
	int got;

	bento_error_clear(&err);
	got = bento_oci_doc_read(s, strlen(s), "SRC", hint, want, &d, &err);
	bento_oci_doc_release(&d);
	if (got != rc || (frag && !strstr(err.msg, frag))) {
		printf("#   rc %d (want %d): %s\n", got, rc, err.msg);
		return 0;
	}
	if (rc && strncmp(err.msg, "SRC:", 4) != 0) {
		printf("#   the message does not name the source: %s\n", err.msg);
		return 0;
	}
	return 1;
}

/* A manifest with one member replaced: "KEY":VALUE spliced in front of the rest. */
static char *manifest_with(const char *member)
{
	return bento_xasprintf("{%s,\"schemaVersion\":2,\"mediaType\":\"" OCI_MANIFEST_V1 "\","
			       "\"config\":" DESC("application/vnd.oci.image.config.v1+json", D1, 2)
			       ",\"layers\":[]}", member);
}

static void test_good(void)
{
	struct bento_oci_doc d;
	struct bento_error err;

	ok(bento_oci_doc_read(bento_manifest, strlen(bento_manifest), "m", NULL, BENTO_OCI_MANIFEST,
			      &d, &err) == 0, "bento's own artifact manifest");
	is_int(d.kind, BENTO_OCI_MANIFEST, "a manifest");
	is_str(d.artifact_type, "application/vnd.bento.bundle.v1", "artifactType");
	is_str(d.config.media_type, "application/vnd.bento.manifest.v1+json", "config.mediaType");
	is_int(d.config.size, 812, "config.size");
	is_int(d.n_descs, 1, "one layer");
	is_int(d.descs[0].size, 10240, "layer size");
	is_str(d.descs[0].digest_str, D2, "layer digest as written");
	ok(!d.descs[0].other_algorithm, "sha256");
	ok(json_is_object(d.descs[0].annotations), "layer annotations");
	bento_oci_doc_release(&d);

	ok(doc(docker_manifest, DOCKER_MANIFEST_V2, BENTO_OCI_MANIFEST, 0, NULL), "Docker's v2 manifest");
	ok(bento_oci_doc_read(skopeo_index, strlen(skopeo_index), "i", NULL,
			      BENTO_OCI_INDEX | BENTO_OCI_MANIFEST, &d, &err) == 0,
	   "skopeo's index.json (no mediaType)");
	is_int(d.kind, BENTO_OCI_INDEX, "an index, by its shape");
	is_str(d.media_type, OCI_INDEX_V1, "taken as an OCI index");
	is_int(d.n_descs, 2, "two manifests");
	is_str(d.descs[1].arch, "arm64", "platform.architecture");
	is_str(d.descs[1].variant, "v8", "platform.variant");
	ok(d.descs[0].os == NULL, "no platform: NULL");
	bento_oci_doc_release(&d);
	ok(doc("{\"schemaVersion\":2,\"manifests\":[]}", OCI_INDEX_V1, BENTO_OCI_INDEX, 0, NULL),
	   "an empty referrers index");
	ok(doc("{\"schemaVersion\":2,\"config\":" DESC("a/b", D1, 0) ",\"layers\":[],\"x\":[1,{}]}",
	       NULL, BENTO_OCI_MANIFEST, 0, NULL), "unknown members are ignored");
	ok(doc("{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"a/b\",\"digest\":\"sha512:"
	       "00000000000000000000000000000000000000000000000000000000000000000000000000000000"
	       "000000000000000000000000000000000000000000000000\",\"size\":1}]}",
	       NULL, BENTO_OCI_INDEX, 0, NULL), "a sha512 descriptor is well formed");
}

static void test_refused(void)
{
	static const struct {
		const char *member, *frag;
	} bad[] = {
		{ "\"annotations\":{\"a\":1}", "SRC: annotations.a: an integer, not a string" },
		{ "\"annotations\":[]", "annotations: an array, not an object of strings" },
		{ "\"artifactType\":7", "artifactType: an integer, not a string" },
		{ "\"artifactType\":\"bento\"", "artifactType: 'bento' is not a media type" },
		{ "\"subject\":\"sha256:00\"", "subject: a string, not a descriptor object" },
		{ "\"subject\":{\"mediaType\":\"a/b\",\"digest\":\"" D1 "\"}", "subject.size: missing" },
	};
	static const struct {
		const char *doc, *frag;
	} docs[] = {
		{ "[]", "SRC: an array, not a JSON object" },
		{ "{\"schemaVersion\":2", "SRC:1:" },
		{ "{\"schemaVersion\":2,\"schemaVersion\":2}", "duplicate" },
		{ "{\"layers\":[]}", "schemaVersion: missing" },
		{ "{\"schemaVersion\":1,\"fsLayers\":[]}", "schemaVersion: 1 is not supported (only 2)" },
		{ "{\"schemaVersion\":\"2\"}", "schemaVersion: a string, not the integer 2" },
		{ "{\"schemaVersion\":2.0}", "schemaVersion: a real number" },
		{ "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.artifact.manifest.v1+json\"}",
		  "mediaType: 'application/vnd.oci.artifact.manifest.v1+json' is neither" },
		{ "{\"schemaVersion\":2,\"mediaType\":[]}", "mediaType: an array, not a string" },
		{ "{\"schemaVersion\":2,\"layers\":[]}", "config: missing" },
		{ "{\"schemaVersion\":2,\"config\":" DESC("a/b", D1, 1) "}", "layers: missing" },
		{ "{\"schemaVersion\":2,\"config\":" DESC("a/b", D1, 1) ",\"layers\":{}}",
		  "layers: an object, not an array of descriptors" },
		{ "{\"schemaVersion\":2,\"config\":" DESC("a/b", D1, 1) ",\"layers\":[null]}",
		  "layers[0]: null, not a descriptor object" },
		{ "{\"schemaVersion\":2,\"config\":" DESC("a/b", D1, 1) ",\"layers\":[" LAYER ","
		  "{\"digest\":\"" D1 "\",\"size\":1}]}", "layers[1].mediaType: missing" },
		{ "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"a/b\",\"size\":1},\"layers\":[]}",
		  "config.digest: missing" },
		{ "{\"schemaVersion\":2,\"config\":" DESC("a/b", D1, -1) ",\"layers\":[]}",
		  "config.size: negative, not an integer >= 0" },
		{ "{\"schemaVersion\":2,\"config\":" DESC("a/b", D1, 1.5) ",\"layers\":[]}",
		  "config.size: a real number, not an integer >= 0" },
		{ "{\"schemaVersion\":2,\"config\":" DESC("a/b", D1, "1") ",\"layers\":[]}",
		  "config.size: a string" },
		{ "{\"schemaVersion\":2,\"config\":" DESC("a/b", D1, 99999999999999999999) ",\"layers\":[]}",
		  "too big" },
		{ "{\"schemaVersion\":2,\"config\":" DESC("a/b", "sha256:0123", 1) ",\"layers\":[]}",
		  "config.digest: 'sha256:0123' is not a digest" },
		{ "{\"schemaVersion\":2,\"config\":" DESC("a/b", "SHA256:00", 1) ",\"layers\":[]}",
		  "config.digest" },
		{ "{\"schemaVersion\":2,\"config\":" DESC("a/b", "sha256:0123456789ABCDEF0123456789abcdef"
		  "0123456789abcdef0123456789abcdef", 1) ",\"layers\":[]}", "config.digest" },
		{ "{\"schemaVersion\":2,\"config\":" DESC("a/b", "md5:../../etc", 1) ",\"layers\":[]}",
		  "config.digest" },
		{ "{\"schemaVersion\":2,\"config\":" DESC("a/b", "sha256+:x", 1) ",\"layers\":[]}",
		  "config.digest" },
		{ "{\"schemaVersion\":2,\"config\":" DESC("a b/c", D1, 1) ",\"layers\":[]}",
		  "config.mediaType: 'a b/c' is not a media type" },
		{ "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"a/b\",\"digest\":\"" D1 "\",\"size\":1,"
		  "\"urls\":[1]},\"layers\":[]}", "config.urls[0]: an integer, not a string" },
		{ "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"a/b\",\"digest\":\"" D1 "\","
		  "\"size\":1,\"platform\":{\"os\":\"linux\"}}]}", "manifests[0].platform.architecture: missing" },
		{ "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"a/b\",\"digest\":\"" D1 "\","
		  "\"size\":1,\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\",\"features\":\"x\"}}]}",
		  "manifests[0].platform.features: a string, not an array of strings" },
		{ "{\"schemaVersion\":2,\"mediaType\":\"" OCI_INDEX_V1 "\",\"manifests\":7}",
		  "manifests: an integer, not an array" },
	};
	char *m;

	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		m = manifest_with(bad[i].member);
		ok(doc(m, NULL, BENTO_OCI_MANIFEST, -BENTO_E_VERIFY, bad[i].frag), "refused: %s", bad[i].member);
		free(m);
	}
	for (size_t i = 0; i < sizeof(docs) / sizeof(*docs); i++)
		ok(doc(docs[i].doc, NULL, BENTO_OCI_MANIFEST | BENTO_OCI_INDEX, -BENTO_E_VERIFY, docs[i].frag),
		   "refused: %s", docs[i].frag);
	ok(doc(bento_manifest, OCI_INDEX_V1, BENTO_OCI_MANIFEST, -BENTO_E_VERIFY,
	       "mediaType: '" OCI_MANIFEST_V1 "', but it was served or described as '" OCI_INDEX_V1 "'"),
	   "a mediaType that contradicts the Content-Type");
	ok(doc(bento_manifest, "application/json", BENTO_OCI_MANIFEST, 0, NULL),
	   "an unknown Content-Type is no hint");
	ok(doc(skopeo_index, NULL, BENTO_OCI_MANIFEST, -BENTO_E_INVALID,
	       "SRC: an image index, not an image manifest"), "well formed but the wrong kind: INVALID");
	ok(doc(bento_manifest, NULL, BENTO_OCI_INDEX, -BENTO_E_INVALID, "an image manifest, not an image index"),
	   "and the other way round");
	{
		struct bento_oci_desc d;
		struct bento_error err;
		json_t *j = json_pack("{s:s,s:s,s:i}", "mediaType", "a/b", "digest",
				      "sha512:00000000000000000000000000000000000000000000000000000000000000000000"
				      "000000000000000000000000000000000000000000000000000000000000", "size", 1);

		ok(bento_oci_desc_read(j, "SRC", "manifests[3]", &d, &err) == 0 && d.other_algorithm,
		   "sha512: read, marked");
		is_int(bento_oci_desc_sha256(&d, "SRC", "manifests[3]", &err), -BENTO_E_VERIFY,
		       "but not usable");
		is_str(err.msg, "SRC: manifests[3]: digest algorithm sha512 is not supported", "says so");
		json_decref(j);
	}
}

static void test_layout(void)
{
	static const struct {
		const char *text, *frag;
	} bad[] = {
		{ "", "SRC:" },
		{ "imageLayoutVersion", "SRC:1:" },
		{ "\"1.0.0\"", "SRC:1:" },
		{ "[\"1.0.0\"]", "SRC: an array, not a JSON object" },
		{ "{}", "SRC: imageLayoutVersion: missing" },
		{ "{\"imageLayoutVersion\":1}", "imageLayoutVersion: an integer, not a string" },
		{ "{\"imageLayoutVersion\":\"2.0.0\"}", "imageLayoutVersion: '2.0.0' is not supported (only 1.0.0)" },
		{ "{\"imageLayoutVersion\":\"1.0\"}", "'1.0' is not supported" },
	};
	struct bento_error err;

	is_int(bento_oci_layout_read("{\"imageLayoutVersion\":\"1.0.0\"}", 30, "SRC", &err), 0,
	       "oci-layout 1.0.0");
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		bento_error_clear(&err);
		is_int(bento_oci_layout_read(bad[i].text, strlen(bad[i].text), "SRC", &err), -BENTO_E_VERIFY,
		       "oci-layout refused: %s", bad[i].text);
		ok(strstr(err.msg, bad[i].frag) != NULL, "says %s: %s", bad[i].frag, err.msg);
	}
}

static int config(const char *s, size_t n_layers, const char *frag, json_t **out)
{
	struct bento_error err;
	json_t *j = NULL;
	int rc;

	bento_error_clear(&err);
	rc = bento_oci_config_read(s, strlen(s), "SRC", n_layers, &j, &err);
	if (frag ? rc != -BENTO_E_VERIFY || !strstr(err.msg, frag) : rc != 0) {
		printf("#   rc %d: %s\n", rc, err.msg);
		json_decref(j);
		return 0;
	}
	if (out)
		*out = j;
	else
		json_decref(j);
	return 1;
}

#define ROOTFS1 "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" D1 "\"]}"
#define CFG(extra) "{\"architecture\":\"amd64\",\"os\":\"linux\"," ROOTFS1 extra "}"

static void test_config(void)
{
	static const struct {
		const char *extra, *frag;
	} bad[] = {
		{ ",\"config\":[]", "SRC: config: an array, not an object" },
		{ ",\"config\":{\"Env\":\"PATH=/bin\"}", "config.Env: a string, not an array of strings" },
		{ ",\"config\":{\"Env\":[\"A=1\",2]}", "config.Env[1]: an integer, not a string" },
		{ ",\"config\":{\"Entrypoint\":\"/bin/sh\"}", "config.Entrypoint: a string, not an array" },
		{ ",\"config\":{\"Cmd\":[null]}", "config.Cmd[0]: null, not a string" },
		{ ",\"config\":{\"User\":0}", "config.User: an integer, not a string" },
		{ ",\"config\":{\"WorkingDir\":[\"/\"]}", "config.WorkingDir: an array, not a string" },
		{ ",\"config\":{\"ExposedPorts\":[\"80/tcp\"]}", "config.ExposedPorts: an array, not an object" },
		{ ",\"config\":{\"ExposedPorts\":{\"80/tcp\":1}}", "config.ExposedPorts.80/tcp: an integer, not an object" },
		{ ",\"config\":{\"Labels\":{\"a\":{}}}", "config.Labels.a: an object, not a string" },
		{ ",\"config\":{\"StopSignal\":9}", "config.StopSignal: an integer, not a string" },
		{ ",\"history\":{}", "history: an object, not an array" },
		{ ",\"history\":[7]", "history[0]: an integer, not an object" },
		{ ",\"history\":[{\"created_by\":1}]", "history[0].created_by: an integer, not a string" },
		{ ",\"history\":[{\"empty_layer\":\"yes\"}]", "history[0].empty_layer: a string, not a boolean" },
		{ ",\"variant\":8", "variant: an integer, not a string" },
	};
	json_t *j = NULL;

	ok(config(CFG(""), 1, NULL, NULL), "a minimal config");
	ok(config(CFG(",\"config\":{\"Env\":[\"PATH=/bin\"],\"Entrypoint\":null,\"Cmd\":[\"sh\"],"
		      "\"Labels\":null,\"ExposedPorts\":{\"80/tcp\":{}},\"Volumes\":null,\"User\":\"\","
		      "\"OnBuild\":null},\"history\":[{\"created\":\"2024-01-01T00:00:00Z\","
		      "\"created_by\":\"ADD x\",\"empty_layer\":true}],\"created\":\"2024-01-01T00:00:00Z\""),
		  1, NULL, &j), "Docker's config, nulls and all");
	ok(j && !json_object_get(json_object_get(j, "config"), "Entrypoint") &&
	   !json_object_get(json_object_get(j, "config"), "Labels") &&
	   json_object_get(json_object_get(j, "config"), "OnBuild"),
	   "the nulls bento reads are dropped, the others left");
	json_decref(j);
	ok(config("{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\","
		  "\"diff_ids\":[]},\"config\":null}", 0, NULL, NULL), "no layers, config null");
	ok(config("{\"os\":\"linux\"," ROOTFS1 "}", 1, "SRC: architecture: missing", NULL), "no architecture");
	ok(config("{\"architecture\":\"amd64\",\"os\":[]," ROOTFS1 "}", 1, "SRC: os: an array, not a string",
		  NULL), "os not a string");
	ok(config("{\"architecture\":\"amd64\",\"os\":\"linux\"}", 0, "SRC: rootfs: missing", NULL), "no rootfs");
	ok(config(CFG(""), 2, "SRC: rootfs.diff_ids: 1 of them for 2 layers", NULL), "diff_ids count");
	ok(config("{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\","
		  "\"diff_ids\":[\"sha256:00\"]}}", 1, "rootfs.diff_ids[0]: 'sha256:00' is not a sha256 digest",
		  NULL), "a bad diff_id");
	ok(config("{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"tar\","
		  "\"diff_ids\":[]}}", 0, "rootfs.type: 'tar', not 'layers'", NULL), "rootfs.type");
	ok(config("[]", 0, "SRC: an array, not a JSON object", NULL), "not an object");
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		char *s = bento_xasprintf(CFG("%s"), bad[i].extra);
		ok(config(s, 1, bad[i].frag, NULL), "refused: %s", bad[i].extra);
		free(s);
	}
}

int main(void)
{
	test_good();
	test_refused();
	test_layout();
	test_config();
	return tap_done();
}
