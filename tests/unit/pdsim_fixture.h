/* SPDX-License-Identifier: MIT */
/*
 * pdsim_fixture.h - run the PagerDuty simulator (tests/pdsim) from C tests.
 *
 *   pdsim_t sim;
 *   if (pdsim_start(&sim, "demo", NULL) != 0) ...;   // plain http
 *   ... requests to sim.url with sim.token ...
 *   pdsim_fault(&sim, "{\"kind\":\"status\",\"status\":503,\"count\":1}");
 *   pdsim_stop(&sim);
 *
 * The simulator is started the one way every test starts it: by the
 * launcher tests/pdsim/pdsim_launch.py (found beside the simulator, which is
 * $PDSIM, else $PD_SRCDIR/tests/pdsim/pdsim; run with $PYTHON3, else
 * /usr/bin/python3), which awaits the simulator's READY line within its own
 * bound and passes it on. Its stderr shows why a start failed; the
 * simulator's request log only with PDSIM_VERBOSE set. A started simulator
 * is always stopped: by pdsim_stop(), at exit of the process that started
 * it (atexit), and when that process dies (PR_SET_PDEATHSIG on the
 * launcher, which takes the simulator with it). With Check, which forks a
 * process per test, start it in an unchecked fixture (once, in the parent)
 * and call pdsim_reset() in a checked one, or start it inside each test.
 *
 * Control interface: tests/pdsim/README.md. None of these functions use
 * Check; they return -1 (after printing why to stderr) on failure.
 */
#ifndef PDSIM_FIXTURE_H
#define PDSIM_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <yajl/yajl_tree.h>

#define PDSIM_PATH_MAX 4096

/* Test TLS material made at test time with the openssl command line. */
typedef struct {
  char dir[PDSIM_PATH_MAX];         /* temporary directory holding it all */
  char ca_cert[PDSIM_PATH_MAX];     /* the CA that signed server_cert */
  char server_cert[PDSIM_PATH_MAX]; /* SAN: IP 127.0.0.1, DNS localhost */
  char server_key[PDSIM_PATH_MAX];
  char other_ca_cert[PDSIM_PATH_MAX]; /* an unrelated CA: must not verify */
  /* Signed by ca_cert, but only for the name "wrong-host.invalid": to test
   * host name verification (pass a copy of the struct with server_cert and
   * server_key set to these). */
  char wrong_host_cert[PDSIM_PATH_MAX];
  char wrong_host_key[PDSIM_PATH_MAX];
} pdsim_certs_t;

typedef struct {
  pid_t pid;       /* the launcher's; 0 when not running */
  int out_fd;      /* the launcher's stdout, kept open */
  char url[256];   /* base URL from the READY line */
  char token[256]; /* a valid user token of the scenario (manager role) */
  char cacert[PDSIM_PATH_MAX]; /* CA for https control calls; "" = http */
} pdsim_t;

/* Path of the simulator executable ($PDSIM, $PD_SRCDIR/tests/pdsim/pdsim). */
const char *pdsim_path(void);

/*
 * Starts the simulator with "--port 0 --scenario <scenario>" (plus the
 * certificate and key of tls when not NULL) and waits for its READY line.
 * Returns 0 with sim filled in, or -1.
 */
int pdsim_start(pdsim_t *sim, const char *scenario, const pdsim_certs_t *tls);

/* The same on a given port (e.g. one a test saw refuse connections). */
int pdsim_start_on(pdsim_t *sim, const char *scenario, const pdsim_certs_t *tls,
                   int port);

/* SIGTERM to the launcher, which stops the simulator; SIGKILL after 30 s;
 * reaps the process. Idempotent. */
void pdsim_stop(pdsim_t *sim);

/* Makes a CA, a server certificate for 127.0.0.1/localhost signed by it,
 * one for another name, and a second unrelated CA, in a new temporary
 * directory. */
int pdsim_make_certs(pdsim_certs_t *certs);
/* Deletes the files and the directory. */
void pdsim_remove_certs(pdsim_certs_t *certs);

/*
 * One control call: method ("GET", "POST", "DELETE") on path (e.g.
 * "/_sim/faults") with an optional JSON body. Returns the HTTP status
 * (-1 when no response came); *body_out (if not NULL) receives the response
 * body, NUL-terminated, to free().
 */
long pdsim_call(const pdsim_t *sim, const char *method, const char *path,
                const char *json, char **body_out);

/* GET path and parse the JSON answer; NULL on any failure. Free with
 * yajl_tree_free(). */
yajl_val pdsim_get_json(const pdsim_t *sim, const char *path);

/* POST /_sim/reset with body json (NULL: "{}", the current scenario and
 * seed), which also clears faults, the request log and rate-limit budgets.
 * sim->token becomes the token the answer names (another scenario or seed
 * has other tokens). Returns 0 or -1. */
int pdsim_reset(pdsim_t *sim, const char *json);

/* POST /_sim/faults; DELETE /_sim/faults. Return 0 or -1. */
int pdsim_fault(const pdsim_t *sim, const char *fault_json);
int pdsim_clear_faults(const pdsim_t *sim);

/* Small JSON helpers for assertions on control answers. */
/* The value at a path of object keys (NULL-terminated list), or NULL. */
yajl_val pdsim_json_get(yajl_val v, const char *const *path);
/* A string member of an object, or NULL. */
const char *pdsim_json_string(yajl_val obj, const char *key);

#endif /* PDSIM_FIXTURE_H */
