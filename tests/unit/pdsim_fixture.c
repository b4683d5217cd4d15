/* SPDX-License-Identifier: MIT */
/*
 * pdsim_fixture.c - see pdsim_fixture.h.
 */
#define _GNU_SOURCE /* pipe2 */
#include "pdsim_fixture.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

/* Bounds for a broken launcher, not estimates of how long things take: a
 * busy machine, or a test built with ASan, can be many times slower than an
 * idle one. How long the simulator may take to get ready is the launcher's
 * to bound (tests/pdsim/pdsim_launch.py); it stops the simulator within its
 * own grace, which STOP_GRACE_MS exceeds. A control call has no limit on its
 * total time (GET /_sim/state of the large scenario is 12 MB, built in
 * Python); it fails only when the simulator sends nothing at all for
 * CALL_STALL_S. Check's per-test timeout bounds the whole test in any case. */
#define STOP_GRACE_MS 30000
#define CALL_CONNECT_TIMEOUT_MS 60000
#define CALL_STALL_S 120L
#define MAX_RUNNING 16

/* ---- processes to stop at exit ----------------------------------------- */

/* Simulators started by this process image; a forked child (a Check test)
 * inherits the table but must not stop its parent's simulators, hence the
 * owner pid. */
static struct { pid_t child, owner; } running[MAX_RUNNING];
static bool atexit_registered;

static void stop_pid(pid_t pid) {
  if (kill(pid, SIGTERM) != 0 && errno == ESRCH) {
    waitpid(pid, NULL, WNOHANG);
    return;
  }
  for (int waited = 0; waited < STOP_GRACE_MS; waited += 20) {
    pid_t r = waitpid(pid, NULL, WNOHANG);
    if (r == pid || (r < 0 && errno == ECHILD))
      return;
    usleep(20 * 1000);
  }
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
}

static void stop_all_at_exit(void) {
  for (size_t i = 0; i < MAX_RUNNING; i++)
    if (running[i].child > 0 && running[i].owner == getpid()) {
      stop_pid(running[i].child);
      running[i].child = 0;
    }
}

static void remember(pid_t child) {
  if (!atexit_registered) {
    atexit(stop_all_at_exit);
    atexit_registered = true;
  }
  for (size_t i = 0; i < MAX_RUNNING; i++)
    if (running[i].child == 0) {
      running[i].child = child;
      running[i].owner = getpid();
      return;
    }
}

static void forget(pid_t child) {
  for (size_t i = 0; i < MAX_RUNNING; i++)
    if (running[i].child == child)
      running[i].child = 0;
}

/* ---- starting and stopping --------------------------------------------- */

const char *pdsim_path(void) {
  static char path[PDSIM_PATH_MAX];
  const char *env = getenv("PDSIM");
  if (env != NULL && *env != '\0')
    return env;
  const char *src = getenv("PD_SRCDIR");
  snprintf(path, sizeof(path), "%s/tests/pdsim/pdsim",
           src != NULL && *src != '\0' ? src : ".");
  return path;
}

/* The one launcher (tests/pdsim/pdsim_launch.py), beside the simulator. */
static const char *launcher_path(void) {
  static char path[PDSIM_PATH_MAX];
  const char *sim = pdsim_path();
  const char *slash = strrchr(sim, '/');
  int dir_len = slash != NULL ? (int)(slash - sim) : 1;
  snprintf(path, sizeof(path), "%.*s/pdsim_launch.py", dir_len,
           slash != NULL ? sim : ".");
  return path;
}

/* In the child: become the launcher. Never returns. */
static void exec_launcher(int out_fd, const char *scenario,
                          const pdsim_certs_t *tls, int port, pid_t parent) {
  /* Die with the test process, even when it is killed; the launcher takes
   * the simulator with it. */
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (getppid() != parent)
    _exit(127);
  dup2(out_fd, STDOUT_FILENO);
  const char *python = getenv("PYTHON3");
  char port_text[16];
  snprintf(port_text, sizeof(port_text), "%d", port);
  const char *argv[16];
  size_t n = 0;
  argv[n++] = python != NULL && *python != '\0' ? python : "/usr/bin/python3";
  argv[n++] = launcher_path();
  argv[n++] = "--port";
  argv[n++] = port_text;
  argv[n++] = "--scenario";
  argv[n++] = scenario;
  if (tls != NULL) {
    argv[n++] = "--tls-cert";
    argv[n++] = tls->server_cert;
    argv[n++] = "--tls-key";
    argv[n++] = tls->server_key;
  }
  argv[n] = NULL;
  execvp(argv[0], (char *const *)argv);
  fprintf(stderr, "pdsim_fixture: cannot run %s: %s\n", argv[0],
          strerror(errno));
  _exit(127);
}

/* Reads the launcher's one line: it prints READY, or exits (having said
 * why on stderr) within its own bound. 0 with line filled in, or -1. */
static int read_ready_line(int fd, char *line, size_t size) {
  size_t used = 0;
  while (used + 1 < size) {
    ssize_t n = read(fd, line + used, 1); /* up to the newline, no further */
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    if (line[used] == '\n') {
      line[used] = '\0';
      return strncmp(line, "READY ", 6) == 0 ? 0 : -1;
    }
    used++;
  }
  fprintf(stderr, "pdsim_fixture: the launcher printed no READY line\n");
  return -1;
}

/* Copies the value of "key=" from a READY line (values have no spaces). */
static int ready_field(const char *line, const char *key, char *out,
                       size_t size) {
  char pattern[32];
  snprintf(pattern, sizeof(pattern), " %s=", key);
  const char *v = strstr(line, pattern);
  if (v == NULL)
    return -1;
  v += strlen(pattern);
  size_t n = strcspn(v, " \t\r\n");
  if (n == 0 || n >= size)
    return -1;
  memcpy(out, v, n);
  out[n] = '\0';
  return 0;
}

int pdsim_start_on(pdsim_t *sim, const char *scenario, const pdsim_certs_t *tls,
                   int port) {
  memset(sim, 0, sizeof(*sim));
  sim->out_fd = -1;
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) {
    perror("pdsim_fixture: pipe");
    return -1;
  }
  fflush(NULL); /* nothing buffered may be written twice */
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    perror("pdsim_fixture: fork");
    close(pipefd[0]);
    close(pipefd[1]);
    return -1;
  }
  if (pid == 0) {
    close(pipefd[0]);
    exec_launcher(pipefd[1], scenario, tls, port, parent);
  }
  close(pipefd[1]);
  sim->pid = pid;
  sim->out_fd = pipefd[0];
  remember(pid);
  if (tls != NULL)
    snprintf(sim->cacert, sizeof(sim->cacert), "%s", tls->ca_cert);

  char line[2048];
  if (read_ready_line(sim->out_fd, line, sizeof(line)) != 0 ||
      ready_field(line, "url", sim->url, sizeof(sim->url)) != 0 ||
      ready_field(line, "token", sim->token, sizeof(sim->token)) != 0) {
    fprintf(stderr, "pdsim_fixture: could not start %s\n", pdsim_path());
    pdsim_stop(sim);
    return -1;
  }
  return 0;
}

int pdsim_start(pdsim_t *sim, const char *scenario, const pdsim_certs_t *tls) {
  return pdsim_start_on(sim, scenario, tls, 0);
}

void pdsim_stop(pdsim_t *sim) {
  if (sim->pid > 0) {
    stop_pid(sim->pid);
    forget(sim->pid);
    sim->pid = 0;
  }
  if (sim->out_fd >= 0) {
    close(sim->out_fd);
    sim->out_fd = -1;
  }
}

/* ---- certificates ------------------------------------------------------ */

/* Runs argv quietly; 0 when it exits 0. */
static int run_quiet(const char *const *argv) {
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0)
    return -1;
  if (pid == 0) {
    int devnull = open("/dev/null", O_RDWR);
    if (devnull >= 0) {
      dup2(devnull, STDIN_FILENO);
      dup2(devnull, STDOUT_FILENO);
      dup2(devnull, STDERR_FILENO);
    }
    execvp(argv[0], (char *const *)argv);
    _exit(127);
  }
  int status;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR)
      return -1;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static const char *openssl_cmd(void) {
  const char *env = getenv("OPENSSL");
  return env != NULL && *env != '\0' && strcmp(env, "no") != 0 ? env
                                                               : "openssl";
}

static int make_ca(const char *cert, const char *key, const char *cn) {
  char subject[128];
  snprintf(subject, sizeof(subject), "/CN=%s", cn);
  const char *argv[] = {openssl_cmd(),
                        "req",
                        "-x509",
                        "-newkey",
                        "ec",
                        "-pkeyopt",
                        "ec_paramgen_curve:prime256v1",
                        "-nodes",
                        "-keyout",
                        key,
                        "-out",
                        cert,
                        "-days",
                        "2",
                        "-subj",
                        subject,
                        "-addext",
                        "basicConstraints=critical,CA:TRUE",
                        "-addext",
                        "keyUsage=critical,keyCertSign,cRLSign",
                        NULL};
  return run_quiet(argv);
}

/* dir is a short mkdtemp() name, so the result always fits; -1 if not. */
static int join_path(char *out, const char *dir, const char *name) {
  size_t d = strlen(dir), n = strlen(name);
  if (d + 1 + n >= PDSIM_PATH_MAX) {
    out[0] = '\0';
    return -1;
  }
  memcpy(out, dir, d);
  out[d] = '/';
  memcpy(out + d + 1, name, n + 1);
  return 0;
}

/* x509 extensions of a server certificate for the names in san. */
static int write_extensions(const char *path, const char *san) {
  FILE *f = fopen(path, "w");
  if (f == NULL) {
    perror("pdsim_fixture: certificate extensions");
    return -1;
  }
  fprintf(f,
          "subjectAltName=%s\n"
          "basicConstraints=critical,CA:FALSE\n"
          "keyUsage=critical,digitalSignature,keyEncipherment\n"
          "extendedKeyUsage=serverAuth\n",
          san);
  return fclose(f) == 0 ? 0 : -1;
}

/* A key and a certificate signed by the test CA, with extensions ext. */
static int make_server_cert(const pdsim_certs_t *c, const char *ca_key,
                            const char *cert, const char *key, const char *ext,
                            const char *serial) {
  char csr[PDSIM_PATH_MAX];
  snprintf(csr, sizeof(csr), "%s.csr", cert);
  const char *req[] = {openssl_cmd(),
                       "req",
                       "-newkey",
                       "ec",
                       "-pkeyopt",
                       "ec_paramgen_curve:prime256v1",
                       "-nodes",
                       "-keyout",
                       key,
                       "-out",
                       csr,
                       "-subj",
                       "/CN=pdsim test server",
                       NULL};
  const char *sign[] = {
      openssl_cmd(), "x509",     "-req", "-in",         csr,    "-CA",
      c->ca_cert,    "-CAkey",   ca_key, "-set_serial", serial, "-days",
      "2",           "-extfile", ext,    "-out",        cert,   NULL};
  int rc = run_quiet(req) == 0 && run_quiet(sign) == 0 ? 0 : -1;
  unlink(csr);
  return rc;
}

int pdsim_make_certs(pdsim_certs_t *c) {
  memset(c, 0, sizeof(*c));
  const char *tmp = getenv("TMPDIR");
  snprintf(c->dir, sizeof(c->dir), "%s/pdsim-certs-XXXXXX",
           tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
  if (strlen(c->dir) > PDSIM_PATH_MAX / 2 || mkdtemp(c->dir) == NULL) {
    perror("pdsim_fixture: mkdtemp");
    return -1;
  }
  char ca_key[PDSIM_PATH_MAX], other_key[PDSIM_PATH_MAX];
  char ext[PDSIM_PATH_MAX], wrong_ext[PDSIM_PATH_MAX];
  join_path(c->ca_cert, c->dir, "ca.pem");
  join_path(ca_key, c->dir, "ca.key");
  join_path(c->server_cert, c->dir, "server.pem");
  join_path(c->server_key, c->dir, "server.key");
  join_path(ext, c->dir, "server.ext");
  join_path(c->wrong_host_cert, c->dir, "wrong-host.pem");
  join_path(c->wrong_host_key, c->dir, "wrong-host.key");
  join_path(wrong_ext, c->dir, "wrong-host.ext");
  join_path(c->other_ca_cert, c->dir, "other-ca.pem");
  join_path(other_key, c->dir, "other-ca.key");

  /* Clients check the SAN, not the CN: both names the tests use. */
  if (write_extensions(ext, "IP:127.0.0.1,DNS:localhost") != 0 ||
      write_extensions(wrong_ext, "DNS:wrong-host.invalid") != 0) {
    pdsim_remove_certs(c);
    return -1;
  }

  if (make_ca(c->ca_cert, ca_key, "pdsim test CA") != 0 ||
      make_server_cert(c, ca_key, c->server_cert, c->server_key, ext, "2") !=
          0 ||
      make_server_cert(c, ca_key, c->wrong_host_cert, c->wrong_host_key,
                       wrong_ext, "3") != 0 ||
      make_ca(c->other_ca_cert, other_key, "unrelated test CA") != 0) {
    fprintf(stderr, "pdsim_fixture: %s could not make test certificates\n",
            openssl_cmd());
    pdsim_remove_certs(c);
    return -1;
  }
  return 0;
}

void pdsim_remove_certs(pdsim_certs_t *c) {
  if (c->dir[0] == '\0')
    return;
  const char *names[] = {"ca.pem",         "ca.key",
                         "ca.srl",         "server.pem",
                         "server.key",     "server.pem.csr",
                         "server.ext",     "wrong-host.pem",
                         "wrong-host.key", "wrong-host.pem.csr",
                         "wrong-host.ext", "other-ca.pem",
                         "other-ca.key"};
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
    char path[PDSIM_PATH_MAX];
    join_path(path, c->dir, names[i]);
    unlink(path);
  }
  rmdir(c->dir);
  memset(c, 0, sizeof(*c));
}

/* ---- control calls ----------------------------------------------------- */

typedef struct {
  char *data;
  size_t len;
} buffer_t;

static size_t collect(char *data, size_t size, size_t nmemb, void *userdata) {
  buffer_t *b = userdata;
  size_t n = size * nmemb;
  char *grown = realloc(b->data, b->len + n + 1);
  if (grown == NULL)
    return 0;
  b->data = grown;
  memcpy(b->data + b->len, data, n);
  b->len += n;
  b->data[b->len] = '\0';
  return n;
}

long pdsim_call(const pdsim_t *sim, const char *method, const char *path,
                const char *json, char **body_out) {
  if (body_out != NULL)
    *body_out = NULL;
  CURL *h = curl_easy_init();
  if (h == NULL)
    return -1;
  char url[1024];
  snprintf(url, sizeof(url), "%s%s", sim->url, path);
  buffer_t b = {NULL, 0};
  struct curl_slist *headers =
      curl_slist_append(NULL, "Content-Type: application/json");
  curl_easy_setopt(h, CURLOPT_URL, url);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)CALL_CONNECT_TIMEOUT_MS);
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L); /* byte/s: a stall */
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, CALL_STALL_S);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
  if (sim->cacert[0] != '\0')
    curl_easy_setopt(h, CURLOPT_CAINFO, sim->cacert);
  if (strcmp(method, "GET") != 0) {
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    if (json != NULL || strcmp(method, "POST") == 0) {
      curl_easy_setopt(h, CURLOPT_POSTFIELDS, json != NULL ? json : "{}");
    }
  }
  long status = -1;
  CURLcode rc = curl_easy_perform(h);
  if (rc == CURLE_OK)
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  else
    fprintf(stderr, "pdsim_fixture: %s %s: %s\n", method, path,
            curl_easy_strerror(rc));
  curl_slist_free_all(headers);
  curl_easy_cleanup(h);
  if (body_out != NULL && status >= 0)
    *body_out = b.data != NULL ? b.data : strdup("");
  else
    free(b.data);
  return status;
}

yajl_val pdsim_get_json(const pdsim_t *sim, const char *path) {
  char *body = NULL;
  long status = pdsim_call(sim, "GET", path, NULL, &body);
  yajl_val v = NULL;
  if (status == 200 && body != NULL) {
    char err[256];
    v = yajl_tree_parse(body, err, sizeof(err));
    if (v == NULL)
      fprintf(stderr, "pdsim_fixture: GET %s: bad JSON: %s\n", path, err);
  } else {
    fprintf(stderr, "pdsim_fixture: GET %s: status %ld\n", path, status);
  }
  free(body);
  return v;
}

static int expect_2xx(const pdsim_t *sim, const char *method, const char *path,
                      const char *json) {
  char *body = NULL;
  long status = pdsim_call(sim, method, path, json, &body);
  if (status < 200 || status > 299) {
    fprintf(stderr, "pdsim_fixture: %s %s -> %ld %s\n", method, path, status,
            body != NULL ? body : "");
    free(body);
    return -1;
  }
  free(body);
  return 0;
}

int pdsim_reset(pdsim_t *sim, const char *json) {
  char *body = NULL;
  long status =
      pdsim_call(sim, "POST", "/_sim/reset", json != NULL ? json : "{}", &body);
  yajl_val answer =
      status == 200 && body != NULL ? yajl_tree_parse(body, NULL, 0) : NULL;
  const char *token = pdsim_json_string(answer, "token");
  int rc = -1;
  if (token != NULL && strlen(token) < sizeof(sim->token)) {
    snprintf(sim->token, sizeof(sim->token), "%s", token);
    rc = 0;
  } else {
    fprintf(stderr, "pdsim_fixture: POST /_sim/reset -> %ld %s\n", status,
            body != NULL ? body : "");
  }
  yajl_tree_free(answer);
  free(body);
  return rc;
}

int pdsim_fault(const pdsim_t *sim, const char *fault_json) {
  return expect_2xx(sim, "POST", "/_sim/faults", fault_json);
}

int pdsim_clear_faults(const pdsim_t *sim) {
  return expect_2xx(sim, "DELETE", "/_sim/faults", NULL);
}

/* ---- JSON helpers ------------------------------------------------------ */

yajl_val pdsim_json_get(yajl_val v, const char *const *path) {
  for (; v != NULL && *path != NULL; path++) {
    if (!YAJL_IS_OBJECT(v))
      return NULL;
    yajl_val next = NULL;
    for (size_t i = 0; i < v->u.object.len; i++)
      if (strcmp(v->u.object.keys[i], *path) == 0)
        next = v->u.object.values[i];
    v = next;
  }
  return v;
}

const char *pdsim_json_string(yajl_val obj, const char *key) {
  const char *path[] = {key, NULL};
  yajl_val v = pdsim_json_get(obj, path);
  return YAJL_IS_STRING(v) ? v->u.string : NULL;
}
