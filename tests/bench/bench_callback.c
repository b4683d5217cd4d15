/* SPDX-License-Identifier: MIT */
/*
 * bench_callback.c - the cost of the notification callback itself, in
 * process (issue 8 item 7).
 *
 * The glue (plugin/pagerduty.c, pd_notification) takes its runtime read
 * lock, reads cdtime() and hands the notification to every Notify block's
 * pd_notify_handle(): match, map (templates), decide, serialise the event
 * and append it to the spool's journal (one write) - then wakes the block's
 * sender. This program times exactly that sequence, per call, on one
 * Events API block with its sender thread running, so the sender's
 * deliveries, retries and once-a-second fsyncs happen meanwhile as they do
 * in collectd. Three cases, each on a fresh spool:
 *   up    the simulator (tests/pdsim) answers the Events API; past its
 *         rate limit (120 events a minute per key, as PagerDuty's) it
 *         answers 429 and the sender holds, as it would against PagerDuty
 *   down  nothing listens on the EventsURL port (connection refused)
 *   hang  a socket listens but never accepts: every request hangs until
 *         the block's Timeout
 * Each call raises a real event (FAILURE and OKAY alternate per host over
 * --hosts hosts), paced at --rate calls a second, the first --warmup calls
 * not counted. Prints median, p90, p99 and max in microseconds.
 * --no-sender leaves the sender thread stopped (events only pile up): the
 * callback's own cost without a thread competing for locks and CPU.
 * --no-prepare stops the spool's preparing thread: every call creates its
 * file, as before prepared files (pd_spool.h), for comparison.
 *
 * After the cases, two "parts" rows time the callback's own work alone,
 * paced the same way: mapping a notification to an event (map) and
 * serialising the event into its spool record (record). Then three
 * "floor" rows time single operations the callback cannot do without on a
 * durable path: a bare system call (getppid), an fstat() of an open file,
 * and one O_APPEND writev() of a record's size into a file beside the
 * spool. They show what this machine charges for them, so the callback's
 * figures can be read against it (--case parts or --case floor runs those
 * rows alone).
 *
 * The spool lives under --dir (default: the current directory, i.e. the
 * build tree on the machine's normal disk; not /tmp, which may be tmpfs).
 * Built by "make bench", which also runs it; not part of make check: it
 * prints figures and asserts nothing about speed. It does exit non-zero
 * when a call did not spool its event (the figures would be of something
 * else).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "pd_event_record.h"
#include "pd_sender.h"
#include "pdsim_fixture.h"

#define BLOCK "bench"

typedef struct {
  long events; /* counted calls per case */
  long warmup; /* uncounted calls before them */
  long rate;   /* calls per second; 0 = back to back */
  int hosts;   /* distinct hosts (open alerts at most) */
  const char *dir;
  const char *only; /* one case, or NULL for all */
  bool no_sender;   /* diagnosis: the callback without a sender thread */
  bool no_prepare;  /* comparison: no prepared files (every call creates) */
} options_t;

/* The glue's runtime lock, taken for reading around every callback. */
static pthread_rwlock_t runtime_lock = PTHREAD_RWLOCK_INITIALIZER;

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* What pd_notification() in plugin/pagerduty.c does, for one block. */
static pd_notify_result_t callback(pd_notify_t *nt, const notification_t *n) {
  pthread_rwlock_rdlock(&runtime_lock);
  pd_notify_result_t r = pd_notify_handle(nt, n, cdtime());
  pthread_rwlock_unlock(&runtime_lock);
  return r;
}

/* The routing key of a service of the simulator's demo scenario. */
static int sim_routing_key(const pdsim_t *sim, char *out, size_t size) {
  const char *const path[] = {"routing_keys", NULL};
  yajl_val root = pdsim_get_json(sim, "/_sim/tokens");
  yajl_val list = root != NULL ? pdsim_json_get(root, path) : NULL;
  int status = -1;
  if (list != NULL && YAJL_IS_ARRAY(list) && list->u.array.len > 0) {
    const char *key = pdsim_json_string(list->u.array.values[0], "routing_key");
    if (key != NULL) {
      snprintf(out, size, "%s", key);
      status = 0;
    }
  }
  yajl_tree_free(root);
  return status;
}

/* A loopback port: listening (backlog kept, never accepted) or, when
 * listening is false, bound and closed again so nothing answers. */
static int loopback_port(bool listening, int *fd_out, int *port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET,
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof(sa);
  if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
      getsockname(fd, (struct sockaddr *)&sa, &len) != 0 ||
      (listening && listen(fd, 1024) != 0)) {
    perror("bench_callback: loopback socket");
    if (fd >= 0)
      close(fd);
    return -1;
  }
  *port = ntohs(sa.sin_port);
  if (listening) {
    *fd_out = fd;
  } else {
    close(fd);
    *fd_out = -1;
  }
  return 0;
}

static int compare_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double quantile(const double *sorted, long num, double q) {
  long i = (long)(q * (double)(num - 1) + 0.5);
  return sorted[i];
}

/* Sorts the num timings in us and prints their row of the table. */
static void print_row(const char *name, double *us, long num,
                      const char *queued, double wall_s) {
  qsort(us, (size_t)num, sizeof(*us), compare_double);
  printf("%-6s %6ld %9.1f %9.1f %9.1f %9.1f %9.1f  %7s %5.1f\n", name, num,
         quantile(us, num, 0.5), quantile(us, num, 0.9),
         quantile(us, num, 0.99), quantile(us, num, 0.999), us[num - 1], queued,
         wall_s);
}

/* Waits until the absolute monotonic time at_us (pacing, not syncing). */
static void wait_until(double at_us) {
  struct timespec ts = {
      .tv_sec = (time_t)(at_us / 1e6),
      .tv_nsec = (long)((at_us - (double)(time_t)(at_us / 1e6) * 1e6) * 1e3)};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
    ;
}

/* Call i's notification: host i % hosts goes FAILURE, OKAY, FAILURE...,
 * so that every call spools an event. */
static void make_notification(const options_t *o, long i, notification_t *n) {
  int h = (int)(i % o->hosts);
  bool failing = (i / o->hosts) % 2 == 0;
  *n = (notification_t){.severity = failing ? NOTIF_FAILURE : NOTIF_OKAY,
                        .time = cdtime()};
  snprintf(n->host, sizeof(n->host), "web%03d.example.com", h);
  snprintf(n->plugin, sizeof(n->plugin), "df");
  snprintf(n->plugin_instance, sizeof(n->plugin_instance), "root");
  snprintf(n->type, sizeof(n->type), "percent_bytes");
  snprintf(n->type_instance, sizeof(n->type_instance), "used");
  snprintf(n->message, sizeof(n->message),
           failing ? "Host web%03d.example.com, plugin df (instance root) "
                     "type percent_bytes (instance used): Data source "
                     "\"value\" is currently 97.3. That is above the "
                     "failure threshold of 95.0."
                   : "Host web%03d.example.com, plugin df (instance root) "
                     "type percent_bytes (instance used): All data sources "
                     "are within range again.",
           h);
}

/* Runs one case against url; prints its line. 0, or -1 on a failure. */
static int run_case(const options_t *o, const char *name, const char *url,
                    const char *routing_key) {
  char dir[4096];
  snprintf(dir, sizeof(dir), "%s/bench_callback.XXXXXX", o->dir);
  if (mkdtemp(dir) == NULL) {
    perror("bench_callback: mkdtemp");
    return -1;
  }
  pd_notify_config_t cfg = {
      .name = BLOCK,
      .severities = PD_SEVERITY_ALL,
      .routing_key = (char *)routing_key,
      .events_url = (char *)url,
      .resolve_on_okay = true,
      .note_interval_s = 600,
      .transport = {.timeout_ms = 2000,
                    .verify_peer = true,
                    .verify_host = true},
  };
  pd_spool_t *spool = pd_spool_open(dir, BLOCK, 100000);
  pd_notify_t *nt = spool != NULL ? pd_notify_open(&cfg, spool, false) : NULL;
  pd_sender_options_t so = {.notify = nt, .max_event_age_s = 86400};
  pd_sender_t *sender = nt != NULL ? pd_sender_create(&so) : NULL;
  if (sender == NULL || (!o->no_sender && pd_sender_start(sender) != 0)) {
    fprintf(stderr, "bench_callback: cannot set up the block in %s\n", dir);
    return -1;
  }
  if (o->no_prepare)
    pd_spool_stop_preparing(spool);

  long total = o->warmup + o->events, bad = 0;
  double *us = malloc((size_t)o->events * sizeof(*us));
  double start = now_us(), period = o->rate > 0 ? 1e6 / (double)o->rate : 0;
  for (long i = 0; i < total && us != NULL; i++) {
    if (period > 0)
      wait_until(start + (double)i * period);
    notification_t n;
    make_notification(o, i, &n);
    double t0 = now_us();
    pd_notify_result_t r = callback(nt, &n);
    double t1 = now_us();
    if (r != PD_NOTIFY_QUEUED)
      bad++;
    if (i >= o->warmup)
      us[i - o->warmup] = t1 - t0;
  }
  double wall = (now_us() - start) / 1e6;
  pd_spool_stats_t st;
  pd_spool_stats(spool, &st);

  pd_sender_destroy(sender);
  pd_notify_close(nt);
  pd_spool_close(spool);
  char cmd[4200];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
  if (system(cmd) != 0)
    fprintf(stderr, "bench_callback: could not remove %s\n", dir);
  if (us == NULL)
    return -1;

  char queued[32];
  snprintf(queued, sizeof(queued), "%zu", st.pending);
  print_row(name, us, o->events, queued, wall);
  free(us);
  if (bad > 0) {
    fprintf(stderr, "bench_callback: %s: %ld calls did not spool their event\n",
            name, bad);
    return -1;
  }
  return 0;
}

/* One operation timed alone, paced as the cases are: the floor (what the
 * callback's durable path costs at least) and the parts of the callback's
 * own work. */
typedef enum {
  OP_SYSCALL, /* a bare system call (getppid) */
  OP_FSTAT,   /* fstat() of the open journal-like file */
  OP_WRITE,   /* one O_APPEND writev() of a record's size into it */
  OP_MAP,     /* pd_event_from_notification() and pd_event_free() */
  OP_RECORD,  /* pd_event_to_record() of a mapped event, and free() */
} op_t;

/* The size of the record the floor's write appends: about what the cases'
 * events take in the journal (header and JSON). */
#define FLOOR_RECORD_BYTES 900

/* What one timed operation works on, made before the clock starts. */
typedef struct {
  int fd;
  pd_notify_config_t cfg;
  notification_t n;
  pd_event_t ev;
} op_input_t;

static void op_prepare(const options_t *o, op_t op, long i, op_input_t *in) {
  if (op != OP_MAP && op != OP_RECORD)
    return;
  make_notification(o, i, &in->n);
  if (op == OP_RECORD &&
      pd_event_from_notification(&in->cfg, &in->n, &in->ev) != PD_MAP_EVENT)
    abort();
}

/* The timed part: 0, or -1 when it failed (the figures would be of
 * something else). */
static int op_once(op_t op, op_input_t *in) {
  static char record[FLOOR_RECORD_BYTES];
  struct stat st;
  struct iovec iov = {.iov_base = record, .iov_len = sizeof(record)};
  char *json;
  size_t len;
  int status = 0;
  switch (op) {
  case OP_SYSCALL:
    status = syscall(SYS_getppid) > 0 ? 0 : -1;
    break;
  case OP_FSTAT:
    status = fstat(in->fd, &st);
    break;
  case OP_WRITE:
    status = writev(in->fd, &iov, 1) == (ssize_t)sizeof(record) ? 0 : -1;
    break;
  case OP_MAP:
    status =
        pd_event_from_notification(&in->cfg, &in->n, &in->ev) == PD_MAP_EVENT
            ? 0
            : -1;
    pd_event_free(&in->ev);
    break;
  case OP_RECORD:
    status = pd_event_to_record(&in->ev, &json, &len);
    free(json);
    break;
  }
  return status;
}

static void op_finish(op_t op, op_input_t *in) {
  if (op == OP_RECORD)
    pd_event_free(&in->ev);
}

/* Times o->events operations (after o->warmup), paced as the cases are, on
 * a file in a fresh directory under o->dir; prints its line. 0 or -1. */
static int run_op(const options_t *o, const char *name, op_t op) {
  char dir[4096], path[4200];
  snprintf(dir, sizeof(dir), "%s/bench_floor.XXXXXX", o->dir);
  if (mkdtemp(dir) == NULL) {
    perror("bench_callback: mkdtemp");
    return -1;
  }
  snprintf(path, sizeof(path), "%s/journal", dir);
  op_input_t in = {
      .fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600),
      .cfg = {.name = BLOCK,
              .severities = PD_SEVERITY_ALL,
              .resolve_on_okay = true,
              .note_interval_s = 600},
  };
  double *us = malloc((size_t)o->events * sizeof(*us));
  long total = o->warmup + o->events, bad = 0;
  double start = now_us(), period = o->rate > 0 ? 1e6 / (double)o->rate : 0;
  for (long i = 0; i < total && us != NULL && in.fd >= 0; i++) {
    if (period > 0)
      wait_until(start + (double)i * period);
    op_prepare(o, op, i, &in);
    double t0 = now_us();
    if (op_once(op, &in) != 0)
      bad++;
    double t1 = now_us();
    op_finish(op, &in);
    if (i >= o->warmup)
      us[i - o->warmup] = t1 - t0;
  }
  double wall = (now_us() - start) / 1e6;
  if (in.fd >= 0)
    close(in.fd);
  unlink(path);
  rmdir(dir);
  if (us == NULL || in.fd < 0 || bad > 0) {
    fprintf(stderr, "bench_callback: %s: %s\n", name,
            bad > 0 ? "the operation failed" : "cannot set up");
    free(us);
    return -1;
  }
  print_row(name, us, o->events, "-", wall);
  free(us);
  return 0;
}

static void usage(void) {
  fprintf(
      stderr,
      "usage: bench_callback [--events N] [--warmup N] [--rate PER_S] "
      "[--hosts N] [--dir DIR] [--case up|down|hang|parts|floor] [--no-sender] "
      "[--no-prepare]\n");
}

static int parse_options(int argc, char **argv, options_t *o) {
  *o = (options_t){
      .events = 2000, .warmup = 200, .rate = 100, .hosts = 200, .dir = "."};
  static const struct option longopts[] = {
      {"events", required_argument, NULL, 'n'},
      {"warmup", required_argument, NULL, 'w'},
      {"rate", required_argument, NULL, 'r'},
      {"hosts", required_argument, NULL, 'h'},
      {"dir", required_argument, NULL, 'd'},
      {"case", required_argument, NULL, 'c'},
      {"no-sender", no_argument, NULL, 's'},
      {"no-prepare", no_argument, NULL, 'p'},
      {NULL, 0, NULL, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    switch (c) {
    case 'n':
      o->events = atol(optarg);
      break;
    case 'w':
      o->warmup = atol(optarg);
      break;
    case 'r':
      o->rate = atol(optarg);
      break;
    case 'h':
      o->hosts = atoi(optarg);
      break;
    case 'd':
      o->dir = optarg;
      break;
    case 'c':
      o->only = optarg;
      break;
    case 's':
      o->no_sender = true;
      break;
    case 'p':
      o->no_prepare = true;
      break;
    default:
      usage();
      return -1;
    }
  }
  if (optind != argc || o->events < 1 || o->warmup < 0 || o->rate < 0 ||
      o->hosts < 1) {
    usage();
    return -1;
  }
  return 0;
}

static bool wanted(const options_t *o, const char *name) {
  return o->only == NULL || strcmp(o->only, name) == 0;
}

int main(int argc, char **argv) {
  options_t o;
  if (parse_options(argc, argv, &o) != 0)
    return 2;
  printf("notification callback, in process: %ld calls per case (after %ld "
         "warm-up), %ld/s, %d hosts, spool under %s\n",
         o.events, o.warmup, o.rate, o.hosts, o.dir);
  printf("%-6s %6s %9s %9s %9s %9s %9s  %7s %5s\n", "case", "calls", "median",
         "p90", "p99", "p99.9", "max", "queued", "s");
  printf("%-6s %6s %9s %9s %9s %9s %9s  %7s %5s\n", "", "", "us", "us", "us",
         "us", "us", "at end", "");
  int status = 0;
  char key[64] = "R0123456789abcdef0123456789abcdef", url[64];

  if (wanted(&o, "up")) {
    pdsim_t sim;
    if (pdsim_start(&sim, "demo", NULL) != 0 ||
        sim_routing_key(&sim, key, sizeof(key)) != 0) {
      fprintf(stderr, "bench_callback: cannot start the simulator %s\n",
              pdsim_path());
      return 1;
    }
    status |= run_case(&o, "up", sim.url, key);
    pdsim_stop(&sim);
  }
  int fd, port;
  if (wanted(&o, "down")) {
    if (loopback_port(false, &fd, &port) != 0)
      return 1;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
    status |= run_case(&o, "down", url, key);
  }
  if (wanted(&o, "hang")) {
    if (loopback_port(true, &fd, &port) != 0)
      return 1;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
    status |= run_case(&o, "hang", url, key);
    close(fd);
  }
  if (wanted(&o, "parts")) {
    printf("parts of the callback's work, alone, the same pacing\n");
    status |= run_op(&o, "map", OP_MAP);
    status |= run_op(&o, "record", OP_RECORD);
  }
  if (wanted(&o, "floor")) {
    printf("floor: the same pacing, one operation per call\n");
    status |= run_op(&o, "sys", OP_SYSCALL);
    status |= run_op(&o, "fstat", OP_FSTAT);
    status |= run_op(&o, "write", OP_WRITE);
  }
  return status == 0 ? 0 : 1;
}
