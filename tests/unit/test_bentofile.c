/* Unit tests: bentofile.yaml parsing, command splitting, the service object. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bentofile.h"
#include "buf.h"
#include "cjson.h"
#include "tap.h"

static const char full[] =
	"# every key\n"
	"name: iris-classifier\n"
	"version: \"1.0.0\"\n"
	"description: Iris classifier served by a C binary\n"
	"service: ./bin/server --port 3000 --name 'my model'\n"
	"labels:\n"
	"  owner: ml-team\n"
	"  stage: 1\n"
	"  public: true\n"
	"envs:\n"
	"  LOG_LEVEL: info\n"
	"  WORKERS: 4\n"
	"include:\n"
	"  - \"bin/**\"\n"
	"  - \"*.py\"\n"
	"exclude: \"**/*.tmp\"\n"
	"models:\n"
	"  - iris:latest\n"
	"  - name: resnet\n"
	"    path: models/resnet\n"
	"    version: v2\n"
	"    framework: onnx\n"
	"  - name: \"bert:v1\"\n"
	"  - {name: gpt, version: v3}\n"
	"lockfiles:\n"
	"  - requirements.txt\n"
	"  - uv.lock\n"
	"docker:\n"
	"  base_image: debian:12-slim\n"
	"  user: \"1000:1000\"\n"
	"  workdir: /srv\n"
	"  env:\n"
	"    PYTHONUNBUFFERED: \"1\"\n"
	"  ports: [3000, 9090]\n"
	"resources:\n"
	"  cpu: 500m\n"
	"  memory: 512Mi\n"
	"  gpu: 1\n"
	"traffic:\n"
	"  timeout: 30\n"
	"  max_concurrency: 8\n"
	"batching:\n"
	"  max_batch_size: 32\n"
	"  max_latency_ms: 10\n"
	"scaling:\n"
	"  min_replicas: 0\n"
	"  max_replicas: 4\n";

static const char full_json[] =
	"{\"batching\":{\"max_batch_size\":32,\"max_latency_ms\":10},"
	"\"entrypoint\":[\"./bin/server\",\"--port\",\"3000\",\"--name\",\"my model\"],"
	"\"envs\":{\"LOG_LEVEL\":\"info\",\"WORKERS\":\"4\"},"
	"\"image\":{\"base\":\"debian:12-slim\",\"env\":{\"PYTHONUNBUFFERED\":\"1\"},"
	"\"ports\":[3000,9090],\"user\":\"1000:1000\",\"workdir\":\"/srv\"},"
	"\"resources\":{\"cpu\":\"500m\",\"gpu\":1,\"memory\":\"512Mi\"},"
	"\"scaling\":{\"max_replicas\":4,\"min_replicas\":0},"
	"\"traffic\":{\"max_concurrency\":8,\"timeout\":30}}";

static int parse(const char *yaml, struct bentofile **bf, struct bento_error *err)
{
	*bf = NULL;
	bento_error_clear(err);
	return bentofile_parse(yaml, strlen(yaml), "bentofile.yaml", bf, err);
}

/* Canonical service JSON of bf, or NULL (caller frees). */
static char *service_canon(const struct bentofile *bf)
{
	struct bento_buf b = BENTO_BUF_INIT;
	json_t *j = bentofile_service_json(bf);
	int rc = bento_json_canonical(j, &b, NULL);

	json_decref(j);
	if (rc) {
		bento_buf_release(&b);
		return NULL;
	}
	return bento_buf_detach(&b, NULL);
}

static void test_full(void)
{
	struct bento_error err = { 0 };
	struct bentofile *bf;
	char *js;
	int rc = parse(full, &bf, &err);

	if (!ok(rc == 0 && bf, "full bentofile parses"))
		printf("# %s\n", err.msg);
	if (!bf)
		return;
	is_str(bf->file, "bentofile.yaml", "file kept for messages");
	is_str(bf->name, "iris-classifier", "name");
	is_str(bf->version, "1.0.0", "version");
	is_str(bf->description, "Iris classifier served by a C binary", "description");
	is_int(bf->service.n, 5, "service split into 5 words");
	is_str(bf->service.v[4].s, "my model", "single-quoted word kept whole");
	is_int(bf->service_pos.line, 5, "service line");
	is_int(bf->service_pos.col, 10, "service column");
	is_int(bf->labels.n, 3, "three labels");
	is_str(bf->labels.v[1].key, "stage", "label order kept");
	is_str(bf->labels.v[1].value, "1", "number label as its literal text");
	is_str(bf->labels.v[2].value, "true", "bool label as its literal text");
	is_int(bf->labels.v[0].pos.line, 7, "label position line");
	is_int(bf->labels.v[0].pos.col, 3, "label position column");
	is_int(bf->envs.n, 2, "two envs");
	is_str(bf->envs.v[1].value, "4", "env value as text");
	is_int(bf->include.n, 2, "two include globs");
	is_str(bf->include.v[1].s, "*.py", "include glob");
	is_int(bf->include.v[1].pos.line, 15, "include item line");
	is_int(bf->include.v[1].pos.col, 5, "include item column");
	is_int(bf->exclude.n, 1, "exclude as a single string");
	is_str(bf->exclude.v[0].s, "**/*.tmp", "exclude glob");
	is_int(bf->n_models, 4, "four models");
	is_str(bf->models[0].tag, "iris:latest", "model tag");
	ok(!bf->models[0].path && !bf->models[0].name, "tag model has no path/name");
	ok(!bf->models[1].tag, "import model has no tag");
	is_str(bf->models[1].name, "resnet", "import model name");
	is_str(bf->models[1].path, "models/resnet", "import model path");
	is_str(bf->models[1].version, "v2", "import model version");
	is_str(bf->models[1].framework, "onnx", "import model framework");
	is_int(bf->models[1].pos.line, 19, "model position line");
	is_int(bf->models[1].pos.col, 5, "model position column");
	is_str(bf->models[2].tag, "bert:v1", "{name: tag} is a tag");
	is_str(bf->models[3].tag, "gpt:v3", "{name, version} without path is a tag");
	is_int(bf->lockfiles.n, 2, "two lockfiles");
	is_str(bf->lockfiles.v[1].s, "uv.lock", "lockfile path");
	is_str(bf->image_base, "debian:12-slim", "docker.base_image is image.base");
	is_str(bf->image_user, "1000:1000", "image user");
	is_str(bf->image_workdir, "/srv", "image workdir");
	is_int(bf->image_env.n, 1, "image env");
	is_int(bf->n_image_ports, 2, "two ports");
	is_int(bf->image_ports[1], 9090, "port value");
	is_str(bf->res_cpu, "500m", "cpu");
	is_str(bf->res_memory, "512Mi", "memory");
	is_int(bf->res_gpu, 1, "gpu");
	is_int(bf->traffic_timeout, 30, "timeout");
	is_int(bf->traffic_max_concurrency, 8, "max_concurrency");
	is_int(bf->batch_max_size, 32, "max_batch_size");
	is_int(bf->batch_max_latency_ms, 10, "max_latency_ms");
	is_int(bf->scale_min, 0, "min_replicas 0 is allowed");
	is_int(bf->scale_max, 4, "max_replicas");
	js = service_canon(bf);
	is_str(js, full_json, "service_json of the full file");
	free(js);
	bentofile_free(bf);
}

static void test_minimal(void)
{
	struct bento_error err = { 0 };
	struct bentofile *bf;
	char *js;

	ok(parse("service: [\"./run\", --port, 3000]\n", &bf, &err) == 0, "list service parses");
	if (!bf)
		return;
	is_int(bf->service.n, 3, "list service has 3 items");
	is_str(bf->service.v[2].s, "3000", "number item as text");
	is_int(bf->service.v[1].pos.col, 20, "each item keeps its column");
	ok(!bf->name && !bf->version && !bf->description, "unset strings are NULL");
	ok(!bf->labels.v && !bf->labels.n && !bf->include.n && !bf->n_models && !bf->models,
	   "unset lists are empty");
	ok(!bf->image_base && !bf->n_image_ports && !bf->res_cpu && !bf->res_memory,
	   "unset image/resources");
	ok(bf->res_gpu == -1 && bf->traffic_timeout == -1 && bf->traffic_max_concurrency == -1 &&
	   bf->batch_max_size == -1 && bf->batch_max_latency_ms == -1 && bf->scale_min == -1 &&
	   bf->scale_max == -1, "unset integers are -1");
	js = service_canon(bf);
	is_str(js, "{\"entrypoint\":[\"./run\",\"--port\",\"3000\"]}",
	       "absent sections are left out of service_json");
	free(js);
	bentofile_free(bf);

	ok(parse("service: ./run\nlabels:\ninclude:\n", &bf, &err) == 0, "null sections read as absent");
	if (bf)
		ok(bf->labels.n == 0 && bf->include.n == 0, "null sections give empty lists");
	bentofile_free(bf);

	ok(parse("service: ./run\nimage:\n  ports: [80]\nscaling: {max_replicas: 2}\n",
		 &bf, &err) == 0, "partial sections parse");
	js = bf ? service_canon(bf) : NULL;
	is_str(js, "{\"entrypoint\":[\"./run\"],\"image\":{\"ports\":[80]},"
	       "\"scaling\":{\"max_replicas\":2}}", "only present members appear");
	free(js);
	bentofile_free(bf);
}

static void test_envs(void)
{
	struct bento_error err = { 0 };
	struct bentofile *bf;
	char *js;
	int rc = parse("service: ./run\n"
		       "envs:\n"
		       "  - name: A_1\n"
		       "    value: x y\n"
		       "  - name: _B\n"
		       "    value: 2\n", &bf, &err);

	if (!ok(rc == 0, "envs as a list of {name, value}"))
		printf("# %s\n", err.msg);
	if (!bf)
		return;
	is_int(bf->envs.n, 2, "two envs from the list");
	is_str(bf->envs.v[0].key, "A_1", "list env name");
	is_str(bf->envs.v[0].value, "x y", "list env value");
	is_int(bf->envs.v[1].pos.line, 5, "list env position");
	js = service_canon(bf);
	is_str(js, "{\"entrypoint\":[\"./run\"],\"envs\":{\"A_1\":\"x y\",\"_B\":\"2\"}}",
	       "envs in service_json");
	free(js);
	bentofile_free(bf);

	ok(parse("service: ./run\nenvs: {A: '1', B: \"\"}\n", &bf, &err) == 0, "envs as a mapping");
	if (bf)
		is_str(bf->envs.v[1].value, "", "empty quoted value kept");
	bentofile_free(bf);
}

static void test_split(void)
{
	static const struct {
		const char *in;
		int argc;
		const char *words[5];
	} good[] = {
		{ "a b  c", 3, { "a", "b", "c" } },
		{ "  lead\ttab\nnl  ", 3, { "lead", "tab", "nl" } },
		{ "'a b' c", 2, { "a b", "c" } },
		{ "'$HOME|;&'", 1, { "$HOME|;&" } },
		{ "\"a \\\"b\\\" \\\\ \\$x \\`y\\`\"", 1, { "a \"b\" \\ $x `y`" } },
		{ "\"keep \\n\"", 1, { "keep \\n" } },
		{ "a\\ b c\\;d", 2, { "a b", "c;d" } },
		{ "x'y'\"z\"w", 1, { "xyzw" } },
		{ "'' b", 2, { "", "b" } },
		{ "a#b", 1, { "a#b" } },
		{ "--opt=\"a b\"", 1, { "--opt=a b" } },
	};
	static const struct {
		const char *in;
		const char *msg;
	} bad[] = {
		{ "run $HOME", "'$' at character 5 would expand in a shell" },
		{ "run `id`", "'`' at character 5 would expand in a shell" },
		{ "a | b", "'|' at character 3 is a shell operator" },
		{ "a; b", "';' at character 2 is a shell operator" },
		{ "a && b", "'&' at character 3 is a shell operator" },
		{ "a < f", "'<' at character 3 is a shell operator" },
		{ "a > f", "'>' at character 3 is a shell operator" },
		{ "(a)", "'(' at character 1 is a shell operator" },
		{ "a)", "')' at character 2 is a shell operator" },
		{ "a \"$X\"", "'$' at character 4 inside double quotes would expand in a shell" },
		{ "a # c", "'#' at character 3 would start a comment in a shell" },
		{ "a 'b", "unterminated single quote (opened at character 3)" },
		{ "a \"b", "unterminated double quote (opened at character 3)" },
		{ "a\\", "a trailing backslash escapes nothing" },
		{ "", "the command is empty" },
		{ "  \t ", "the command is empty" },
	};
	struct bento_error err = { 0 };

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		char **argv = NULL;
		size_t argc = 0;
		int rc = bentofile_split_command(good[i].in, &argv, &argc, &err);
		int same = rc == 0 && (int)argc == good[i].argc && argv[argc] == NULL;

		for (int k = 0; same && k < good[i].argc; k++)
			same = strcmp(argv[k], good[i].words[k]) == 0;
		ok(same, "split good case %zu", i);
		if (rc == 0) {
			for (size_t k = 0; k < argc; k++)
				free(argv[k]);
			free(argv);
		}
	}
	char *sentinel[1] = { NULL }, **untouched = sentinel;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char **argv = untouched;
		size_t argc = 77;
		int rc = bentofile_split_command(bad[i].in, &argv, &argc, &err);

		is_int(rc, -BENTO_E_INVALID, "split refuses [%s]", bad[i].in);
		ok(strncmp(err.msg, bad[i].msg, strlen(bad[i].msg)) == 0, "message for [%s]: %s",
		   bad[i].in, err.msg);
		ok(argv == untouched && argc == 77, "outputs untouched on error [%s]",
		   bad[i].in);
	}
	bentofile_split_command("a | b", &(char **){ NULL }, &(size_t){ 0 }, &err);
	ok(strstr(err.msg, "use the list form") != NULL, "refusal suggests the list form");
}

/* Each bad input and the exact message it must give. */
static void test_errors(void)
{
	static const struct {
		const char *yaml, *msg;
	} cases[] = {
		{ "service: ./run\nmodles: []\n",
		  "bentofile.yaml:2:1: unknown key 'modles' (did you mean 'models'?)" },
		{ "service: ./run\nservices: x\n",
		  "bentofile.yaml:2:1: unknown key 'services' (did you mean 'service'?)" },
		{ "service: ./run\nlabel: {}\n",
		  "bentofile.yaml:2:1: unknown key 'label' (did you mean 'labels'?)" },
		{ "service: ./run\nmodel: []\n",
		  "bentofile.yaml:2:1: unknown key 'model' (did you mean 'models'?)" },
		{ "service: ./run\nvresion: x\n",
		  "bentofile.yaml:2:1: unknown key 'vresion' (did you mean 'version'?)" },
		{ "service: ./run\nzzz: 1\n",
		  "bentofile.yaml:2:1: unknown key 'zzz' (valid keys: batching, description, docker, "
		  "envs, exclude, image, include, labels, lockfiles, models, name, resources, "
		  "scaling, service, traffic, version)" },
		{ "service: ./run\nresources:\n  cpu: 1\n  gpus: 1\n",
		  "bentofile.yaml:4:3: unknown key 'gpus' (did you mean 'gpu'?)" },
		{ "service: ./run\ntraffic:\n  max_concurency: 1\n",
		  "bentofile.yaml:3:3: unknown key 'max_concurency' (did you mean 'max_concurrency'?)" },
		{ "service: ./run\nbatching:\n  max_batch: 4\n",
		  "bentofile.yaml:3:3: unknown key 'max_batch' (did you mean 'max_batch_size'?)" },
		{ "service: ./run\ndocker:\n  base_imag: x\n",
		  "bentofile.yaml:3:3: unknown key 'base_imag' (did you mean 'base_image'?)" },
		{ "service: ./run\nimage:\n  distro: x\n",
		  "bentofile.yaml:3:3: unknown key 'distro' (valid keys in 'image': base, env, "
		  "ports, user, workdir)" },
		{ "service: ./run\nmodels:\n  - name: a\n    paht: m\n",
		  "bentofile.yaml:4:5: unknown key 'paht' (did you mean 'path'?)" },
		{ "service: ./run\npython:\n  packages: [numpy]\n",
		  "bentofile.yaml:2:1: unknown key 'python': bento installs no packages; list the "
		  "lockfiles the service was built from under 'lockfiles'" },
		{ "service: ./run\nlabels:\n  - a\n",
		  "bentofile.yaml:3:3: 'labels' must be a mapping, got a sequence" },
		{ "service: ./run\nresources: 4\n",
		  "bentofile.yaml:2:12: 'resources' must be a mapping, got a scalar" },
		{ "service: ./run\nname: {a: b}\n",
		  "bentofile.yaml:2:7: 'name' must be a string, got a mapping" },
		{ "service: {a: b}\n",
		  "bentofile.yaml:1:10: 'service' must be a string or a sequence of strings, got a mapping" },
		{ "service: [./run, [x]]\n",
		  "bentofile.yaml:1:18: 'service[1]' must be a string, got a sequence" },
		{ "service: []\n", "bentofile.yaml:1:10: 'service' must not be an empty list" },
		{ "service: ['', x]\n",
		  "bentofile.yaml:1:11: 'service': the program name must not be empty" },
		{ "service: run | tee\n",
		  "bentofile.yaml:1:10: 'service': '|' at character 5 is a shell operator; no shell "
		  "runs the service, so quote it, or use the list form (service: [sh, -c, \"...\"] "
		  "if you need a shell)" },
		{ "service: ./run\ninclude: [a, {b: c}]\n",
		  "bentofile.yaml:2:14: 'include[1]' must be a string, got a mapping" },
		{ "service: ./run\nexclude: {a: b}\n",
		  "bentofile.yaml:2:10: 'exclude' must be a glob or a sequence of globs, got a mapping" },
		{ "service: ./run\ninclude: ['']\n",
		  "bentofile.yaml:2:11: 'include[0]' must not be an empty string" },
		{ "service: ./run\nlabels:\n  a:\n",
		  "bentofile.yaml:3:5: 'labels.a' must be a string, got null (write '' for an empty string)" },
		{ "service: ./run\nresources:\n  gpu: -1\n",
		  "bentofile.yaml:3:8: 'resources.gpu' must be an integer >= 0, got -1" },
		{ "service: ./run\nresources:\n  gpu: two\n",
		  "bentofile.yaml:3:8: 'resources.gpu' must be an integer >= 0, got 'two'" },
		{ "service: ./run\nresources:\n  gpu: \"1\"\n",
		  "bentofile.yaml:3:8: 'resources.gpu' must be an integer >= 0, got the quoted string '1'" },
		{ "service: ./run\nresources:\n  cpu: lots\n",
		  "bentofile.yaml:3:8: 'resources.cpu' must be a number of cores (2, 0.5) or "
		  "millicores (500m), got 'lots'" },
		{ "service: ./run\nresources:\n  memory: 1GB\n",
		  "bentofile.yaml:3:11: 'resources.memory' must be bytes with an optional suffix "
		  "(k M G T P E, or Ki Mi Gi Ti Pi Ei), got '1GB'" },
		{ "service: ./run\ntraffic: {timeout: 0}\n",
		  "bentofile.yaml:2:20: 'traffic.timeout' must be an integer > 0 (seconds), got 0" },
		{ "service: ./run\ntraffic: {timeout: 99999999999999999999}\n",
		  "bentofile.yaml:2:20: 'traffic.timeout' must be an integer > 0 (seconds), "
		  "got 99999999999999999999" },
		{ "service: ./run\nbatching: {max_latency_ms: 1.5}\n",
		  "bentofile.yaml:2:28: 'batching.max_latency_ms' must be an integer > 0, got '1.5'" },
		{ "service: ./run\nscaling: {min_replicas: 3, max_replicas: 2}\n",
		  "bentofile.yaml:2:10: 'scaling.max_replicas' (2) must be >= 'scaling.min_replicas' (3)" },
		{ "service: ./run\nimage: {ports: [80, 0]}\n",
		  "bentofile.yaml:2:21: 'image.ports[1]' must be an integer from 1 to 65535, got 0" },
		{ "service: ./run\nimage: {ports: [80, 80]}\n",
		  "bentofile.yaml:2:21: 'image.ports': port 80 is listed twice" },
		{ "service: ./run\nimage: {ports: 80}\n",
		  "bentofile.yaml:2:16: 'image.ports' must be a sequence of port numbers, got a scalar" },
		{ "service: ./run\nimage: {workdir: srv}\n",
		  "bentofile.yaml:2:18: 'image.workdir' must be an absolute path, got 'srv'" },
		{ "service: ./run\nimage: {env: {1X: a}}\n",
		  "bentofile.yaml:2:15: 'image.env': '1X' is not a valid environment variable name "
		  "(use letters, digits and _, not starting with a digit)" },
		{ "name: a\nservice: ./run\nname: b\n",
		  "bentofile.yaml:3:1: duplicate key 'name' (first at 1:1)" },
		{ "service: ./run\nimage: {}\ndocker: {}\n",
		  "bentofile.yaml:3:1: duplicate key 'docker' ('image' and 'docker' are the same; "
		  "first at 2:1)" },
		{ "service: ./run\ndocker: {base: a, base_image: b}\n",
		  "bentofile.yaml:2:19: duplicate key 'base_image' ('base' and 'base_image' are the "
		  "same; first at 2:10)" },
		{ "service: ./run\nlabels:\n  a: 1\n  b: 2\n  a: 3\n  b: 4\n",
		  "bentofile.yaml:5:3: duplicate label 'a' (first at 3:3)" },
		{ "service: ./run\nenvs:\n  - {name: X, value: a}\n  - {name: X, value: b}\n",
		  "bentofile.yaml:4:5: duplicate variable 'X' (first at 3:5)" },
		{ "service: ./run\nenvs:\n  - name: X\n",
		  "bentofile.yaml:3:5: 'envs[0]' (X) needs 'value': envs are stored in the bento; "
		  "pass secrets to the container at run time instead" },
		{ "service: ./run\nenvs:\n  - value: x\n", "bentofile.yaml:3:5: 'envs[0]' needs 'name'" },
		{ "service: ./run\nenvs:\n  - name: A-B\n    value: x\n",
		  "bentofile.yaml:3:11: 'envs[0].name': 'A-B' is not a valid environment variable "
		  "name (use letters, digits and _, not starting with a digit)" },
		{ "service: ./run\nenvs: [x]\n",
		  "bentofile.yaml:2:8: 'envs[0]' must be a mapping {name: N, value: V}, got a scalar" },
		{ "service: ./run\nenvs:\n  A B: x\n",
		  "bentofile.yaml:3:3: 'envs': 'A B' is not a valid environment variable name "
		  "(use letters, digits and _, not starting with a digit)" },
		{ "service: ./run\nlabels: {\"a=b\": x}\n",
		  "bentofile.yaml:2:10: 'labels': label key 'a=b' must not contain '='" },
		{ "service: ./run\nlabels: {\"\": x}\n",
		  "bentofile.yaml:2:10: 'labels': a label key must not be empty" },
		{ "name: \"\"\nlabels:\n",
		  "bentofile.yaml:1:7: name '' is invalid: use 1-128 characters of a-z 0-9 . _ -, "
		  "starting with a-z or 0-9" },
		{ "service: ./run\nname: Iris\n",
		  "bentofile.yaml:2:7: name 'Iris' is invalid: use 1-128 characters of a-z 0-9 . _ -, "
		  "starting with a-z or 0-9" },
		{ "service: ./run\nname: -iris\n",
		  "bentofile.yaml:2:7: name '-iris' is invalid: use 1-128 characters of a-z 0-9 . _ -, "
		  "starting with a-z or 0-9" },
		{ "service: ./run\nversion: .1\n",
		  "bentofile.yaml:2:10: version '.1' is invalid: use 1-128 characters of A-Z a-z 0-9 "
		  ". _ -, starting with a letter, digit or _" },
		{ "service: ./run\nversion: \"1+2\"\n",
		  "bentofile.yaml:2:10: version '1+2' is invalid: use 1-128 characters of A-Z a-z 0-9 "
		  ". _ -, starting with a letter, digit or _" },
		{ "service: ./run\nmodels: [\"Iris:v1\"]\n",
		  "bentofile.yaml:2:10: model 'Iris:v1' is not a valid tag: use NAME or NAME:VERSION "
		  "(NAME: 1-128 characters of a-z 0-9 . _ -, starting with a-z or 0-9), or sha256:HEX "
		  "(12 to 64 digits)" },
		{ "service: ./run\nmodels:\n  - path: m\n", "bentofile.yaml:3:5: 'models[0]' needs 'name'" },
		{ "service: ./run\nmodels:\n  - {name: a, framework: onnx}\n",
		  "bentofile.yaml:3:15: 'models[0].framework' applies only with 'path' (a model "
		  "imported by this build)" },
		{ "service: ./run\nmodels:\n  - {name: \"a:v1\", version: v2}\n",
		  "bentofile.yaml:3:20: 'models[0]': the version is given twice ('a:v1' and 'version: v2')" },
		{ "service: ./run\nmodels:\n  - {name: A, path: m}\n",
		  "bentofile.yaml:3:6: model name 'A' is invalid: use 1-128 characters of a-z 0-9 . _ -, "
		  "starting with a-z or 0-9" },
		{ "service: ./run\nmodels: iris\n",
		  "bentofile.yaml:2:9: 'models' must be a sequence, got a scalar" },
		{ "name: iris\n",
		  "bentofile.yaml: 'service' is required (the command that starts the service, "
		  "e.g. service: ./bin/server --port 3000)" },
		{ "service:\n",
		  "bentofile.yaml: 'service' is required (the command that starts the service, "
		  "e.g. service: ./bin/server --port 3000)" },
		{ "",
		  "bentofile.yaml:1:1: the file is empty; it needs at least 'service' (the command "
		  "that starts the service, e.g. service: ./bin/server --port 3000)" },
		{ "# only a comment\n\n",
		  "bentofile.yaml:1:1: the file is empty; it needs at least 'service' (the command "
		  "that starts the service, e.g. service: ./bin/server --port 3000)" },
		{ "- a\n- b\n", "bentofile.yaml:1:1: the top level must be a mapping, got a sequence" },
		{ "service: ./run\n  name: x\n",
		  "bentofile.yaml:2:7: mapping values are not allowed in this context" },
		{ "service: [a, b\n",
		  "bentofile.yaml:2:1: did not find expected ',' or ']' (while parsing a flow sequence "
		  "at 1:10)" },
		{ "service: &cmd ./run\nlabels:\n  x: *cmd\n",
		  "bentofile.yaml:3:6: aliases are not supported (*cmd): write the value out" },
		{ "service: ./run\n---\nservice: ./other\n",
		  "bentofile.yaml:2:1: a second YAML document: a bentofile holds exactly one" },
		{ "service: ./run\nname: caf\xc3\n",
		  "bentofile.yaml:2:10: invalid UTF-8 (byte 0xc3); the file must be UTF-8" },
		{ "service: ./run\ndescription: \xc3\xa9\xff\n",
		  "bentofile.yaml:2:15: invalid UTF-8 (byte 0xff); the file must be UTF-8" },
		{ "service: ./run\ndescription: a\x01\n",
		  "bentofile.yaml:2:15: control character 0x01 is not allowed" },
		{ "service: ./run\ndescription: \"a\\0b\"\n",
		  "bentofile.yaml:2:14: NUL characters are not allowed in strings" },
		{ "service: ./run\n? [a]\n: b\n", "bentofile.yaml:2:3: a key must be a scalar, got a sequence" },
	};
	struct bento_error err = { 0 };

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct bentofile *bf = (struct bentofile *)&err;	/* must stay untouched */
		int rc = bentofile_parse(cases[i].yaml, strlen(cases[i].yaml), "bentofile.yaml",
					 &bf, &err);

		is_int(rc, -BENTO_E_INVALID, "refused: case %zu", i);
		is_str(err.msg, cases[i].msg, "message: case %zu", i);
		ok(bf == (struct bentofile *)&err, "out untouched on error: case %zu", i);
	}
}

static void test_limits(void)
{
	struct bento_error err = { 0 };
	struct bento_buf b = BENTO_BUF_INIT;
	struct bentofile *bf = NULL;
	int rc;

	/* deep nesting stops at the cap instead of recursing */
	bento_buf_adds(&b, "service: ./run\nlabels: ");
	for (int i = 0; i < 10000; i++)
		bento_buf_addch(&b, '[');
	rc = bentofile_parse(b.buf, b.len, "f.yaml", &bf, &err);
	is_int(rc, -BENTO_E_INVALID, "deep nesting refused");
	ok(strstr(err.msg, "nested deeper than 32 levels") != NULL, "depth message: %s", err.msg);
	bento_buf_release(&b);

	/* over 1 MiB */
	bento_buf_adds(&b, "service: ./run\n");
	while (b.len <= (1u << 20))
		bento_buf_adds(&b, "# padding padding padding padding padding padding padding\n");
	rc = bentofile_parse(b.buf, b.len, "f.yaml", &bf, &err);
	is_int(rc, -BENTO_E_INVALID, "over 1 MiB refused");
	ok(strstr(err.msg, "larger than 1 MiB") != NULL, "size message: %s", err.msg);
	bento_buf_release(&b);

	/* many labels: duplicate detection stays fast and finds the first duplicate */
	bento_buf_adds(&b, "service: ./run\nlabels:\n");
	for (int i = 0; i < 50000; i++)
		bento_buf_addf(&b, "  k%d: v\n", i);
	bento_buf_adds(&b, "  k7: again\n  k3: again\n");
	rc = bentofile_parse(b.buf, b.len, "f.yaml", &bf, &err);
	is_int(rc, -BENTO_E_INVALID, "duplicate among many labels refused");
	is_str(err.msg, "f.yaml:50003:3: duplicate label 'k7' (first at 10:3)",
	       "first duplicate in document order reported");
	bento_buf_release(&b);

	/* a UTF-8 BOM is fine, and non-ASCII text is counted in characters */
	static const char bom[] = "\xef\xbb\xbfservice: ./run\ndescription: h\xc3\xa9llo\n";
	static const char utf[] = "description: \xc3\xa9\nlabels: [x]\nservice: a\n";
	rc = bentofile_parse(bom, sizeof(bom) - 1, "f.yaml", &bf, &err);
	ok(rc == 0 && bf && strcmp(bf->description, "h\xc3\xa9llo") == 0, "BOM and UTF-8 accepted");
	bentofile_free(bf);
	bf = NULL;
	rc = bentofile_parse(utf, sizeof(utf) - 1, "f.yaml", &bf, &err);
	is_str(err.msg, "f.yaml:2:9: 'labels' must be a mapping, got a sequence", "column after UTF-8");
	bentofile_free(NULL);
}

static void test_load(void)
{
	char dir[] = "/tmp/test_bentofile.XXXXXX";
	struct bento_error err = { 0 };
	struct bentofile *bf = NULL;
	char *path, *missing;
	int fd, rc;

	if (!ok(mkdtemp(dir) != NULL, "mkdtemp"))
		return;
	path = bento_xasprintf("%s/bentofile.yaml", dir);
	missing = bento_xasprintf("%s/nope.yaml", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
	ok(fd >= 0 && write(fd, full, strlen(full)) == (ssize_t)strlen(full), "fixture written");
	close(fd);

	rc = bentofile_load(path, &bf, &err);
	ok(rc == 0 && bf && bf->n_models == 4, "load reads and parses the file");
	if (bf)
		is_str(bf->file, path, "file is the path as given");
	bentofile_free(bf);

	bf = NULL;
	rc = bentofile_load(missing, &bf, &err);
	is_int(rc, -ENOENT, "missing file is -ENOENT");
	ok(strstr(err.msg, "nope.yaml: No such file") != NULL, "missing file message: %s", err.msg);
	ok(!bf, "no output for a missing file");

	rc = bentofile_load(dir, &bf, &err);
	is_int(rc, -EISDIR, "directory refused");

	fd = open(path, O_WRONLY | O_TRUNC);
	ok(fd >= 0 && write(fd, "service: ./x\nnmae: a\n", 21) == 21, "bad fixture written");
	close(fd);
	rc = bentofile_load(path, &bf, &err);
	is_int(rc, -BENTO_E_INVALID, "load reports parse errors");
	char *want = bento_xasprintf("%s:2:1: unknown key 'nmae' (did you mean 'name'?)", path);
	is_str(err.msg, want, "load error names the path");
	free(want);

	unlink(path);
	rmdir(dir);
	ok(access(dir, F_OK) != 0, "fixture directory removed");
	free(path);
	free(missing);
}

int main(void)
{
	test_full();
	test_minimal();
	test_envs();
	test_split();
	test_errors();
	test_limits();
	test_load();
	return tap_done();
}
