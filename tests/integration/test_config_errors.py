#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""
test_config_errors.py - collectd refuses every bad configuration (doc/contract.md §3).

Each case takes a configuration that is known to be good (test_00 proves
collectd accepts it), breaks exactly one thing, and runs the real collectd
on it. What collectd 5.12 does when the plugin's complex config callback
returns -1 (observed, see check_config() in harness.py): it prints
"Error: Parsing the config file failed!" on stderr and exits with status 1
before any init or read callback runs. So for every case we assert:

  - collectd exited on its own with a non-zero status, before
    "Initialization complete", with that message (nothing half-configured
    keeps running);
  - the log has exactly one ERROR line, from the plugin, naming the block
    (<Account "acme">, <Notify "web">, or the <Plugin pagerduty> level) and
    the option;
  - nothing ever connected to the URLs of the configuration;
  - no secret (token, routing key) appears in anything collectd printed.

The warning cases (readable TokenFile, VerifyPeer/VerifyHost false) run
against the simulator and assert the configuration is accepted AND works.
"""

import os
import re
import secrets

import harness
from harness import (DaemonTestCase, block, plugin_block, check_config,
                     ConnectionCounter)

ROUTING_KEY = "0123456789abcdef" + secrets.token_hex(8)  # 32 characters
harness.register_secret(ROUTING_KEY)

# Block names as the plugin prints them (plugin/core/pd_config.c):
#   pagerduty plugin: <Account "acme">: option "Interval": must be ...
ACCOUNT = r'<Account "acme">'
NOTIFY = r'<Notify "web">'
TOP = r'<Plugin pagerduty>'


class ConfigErrorTest(DaemonTestCase):

    def setUp(self):
        super().setUp()
        self.counter = ConnectionCounter()
        self.addCleanup(self.counter.close)
        self.token = "cfgtest-" + secrets.token_hex(12)
        self.token_path = self.token_file(self.token)

    # -- building blocks of the known-good configuration ----------------------
    def account(self, name="acme", drop=(), extra=(), **overrides):
        """The good Account block, with options dropped, replaced or added
        (extra: (key, value) pairs appended, for repeated or odd keys)."""
        opts = {"TokenFile": self.token_path, "URL": self.counter.url,
                "Interval": 1}
        opts.update(overrides)
        items = [(k, v) for k, v in opts.items() if k not in drop]
        return block("Account", name, items + list(extra))

    def notify(self, name="web", drop=(), extra=(), **overrides):
        opts = {"Plugin": "df", "Severity": ("FAILURE", "WARNING", "OKAY"),
                "RoutingKey": ROUTING_KEY, "EventsURL": self.counter.url}
        opts.update(overrides)
        items = [(k, v) for k, v in opts.items() if k not in drop]
        return block("Notify", name, items + list(extra))

    def good_config(self):
        return plugin_block(self.account(), self.notify())

    # -- assertions -----------------------------------------------------------
    def assertRefused(self, conf, where, option, env=None, also=()):
        """collectd refuses conf with one ERROR naming `where` (a regex for
        the block) and `option` (the option keyword)."""
        result = check_config(conf, env=env)
        # Refused: exited by itself, non-zero, before any init/read ran.
        self.assertTrue(result.refused, "collectd kept running with a bad "
                        "configuration: %r" % result)
        self.assertNotEqual(result.returncode, 0)
        self.assertTrue(result.config_failed_message,
                        "collectd did not say the config failed; stderr: %r"
                        % harness.redact(result.stderr))
        self.assertNotIn(harness.INIT_COMPLETE, "\n".join(result.log))
        # Exactly one ERROR line in the whole log, and it is ours.
        self.assertEqual(len(result.all_errors), 1,
                         "expected exactly one ERROR line, got: %s"
                         % [harness.redact(e) for e in result.all_errors])
        self.assertEqual(len(result.errors), 1)
        message = result.errors[0]
        self.assertTrue(message.startswith(harness.LOG_PREFIX), message)
        self.assertRegex(message, where, "the ERROR does not name the block")
        self.assertRegex(message, r"\b%s\b" % re.escape(option),
                         "the ERROR does not name the option")
        for text in also:
            self.assertIn(text, message)
        # Nothing was contacted and no secret was printed.
        self.assertEqual(self.counter.count, 0,
                         "something connected to the configured URL")
        output = "\n".join(result.log) + result.stderr
        for secret in (self.token, ROUTING_KEY):
            self.assertNotIn(secret, output, "a secret was printed")
        return result

    @staticmethod
    def config_time_log(result):
        """The log up to "Initialization complete": config-time problems
        are logged there. Read threads already run during init, so lines of
        an account's first requests (`account "x": GET ...`) can come before
        it: they are left out, they are not about the configuration."""
        before = "\n".join(result.log).split(harness.INIT_COMPLETE)[0]
        return "\n".join(line for line in before.split("\n")
                         if not re.search(r'pagerduty plugin: account "[^"]*": '
                                          r'(GET|POST|PUT) /', line))

    # -- the baseline -----------------------------------------------------------
    def test_00_good_config_is_accepted(self):
        result = check_config(self.good_config())
        self.assertFalse(result.refused, "the known-good configuration was "
                         "refused: %r\n%s" % (result, "\n".join(result.log)))
        self.assertFalse(result.init_failed)
        before_reads = self.config_time_log(result)
        self.assertNotIn("[error]", before_reads)
        self.assertNotIn("[warning] pagerduty plugin", before_reads)
        self.assertEqual(result.returncode, 0, "collectd did not exit 0 on "
                         "SIGTERM")

    def test_01_example_config_is_accepted(self):
        """conf/pagerduty.conf, as shipped, is a valid configuration (with
        its TokenFile pointed at a real file and its URL at a local port,
        so that nothing goes to api.pagerduty.com)."""
        with open(os.path.join(harness.SRCDIR, "conf", "pagerduty.conf")) as f:
            example = f.read()
        self.assertIn('TokenFile "/etc/collectd/pagerduty.token"', example)
        example = example.replace(
            'TokenFile "/etc/collectd/pagerduty.token"',
            'TokenFile %s\n    URL %s' % (harness.quote(self.token_path),
                                          harness.quote(self.counter.url)))
        example = re.sub(r"(?m)^LoadPlugin pagerduty$", "", example)
        result = check_config(example)
        self.assertFalse(result.refused, "conf/pagerduty.conf was refused: "
                         "%r" % result)
        # (The read itself fails: nothing answers at that port.)
        self.assertNotIn("[error]", self.config_time_log(result))


# Each case: (name, function(test) -> (config text, block regex, option,
# env or None, extra texts the message must contain)). Generated into one
# test method per case below, so the verbose output lists them all.
def _case(conf_fn, where, option, env=None, also=()):
    return conf_fn, where, option, env, also


CASES = {
    # Unknown options and blocks, at every level.
    "unknown_option_in_account": _case(
        lambda t: plugin_block(t.account(Frobnicate="x"), t.notify()),
        ACCOUNT, "Frobnicate"),
    "unknown_option_in_notify": _case(
        lambda t: plugin_block(t.account(), t.notify(Frobnicate="x")),
        NOTIFY, "Frobnicate"),
    "unknown_top_level_option": _case(
        lambda t: plugin_block(t.account(), t.notify(),
                               options={"Frobnicate": "x"}),
        TOP, "Frobnicate"),
    "unknown_block": _case(
        lambda t: plugin_block(t.account(), block("Frobnicate", "x")),
        TOP, "Frobnicate"),
    # Missing, contradictory.
    "missing_token_source_env_unset": _case(
        lambda t: plugin_block(t.account(drop=("TokenFile",))),
        ACCOUNT, "TokenFile", also=("PAGERDUTY_USER_API_KEY",)),
    "token_and_token_file": _case(
        lambda t: plugin_block(t.account(Token=t.token)),
        ACCOUNT, "Token"),
    "routing_key_and_service": _case(
        lambda t: plugin_block(t.account(), t.notify(Service="PSERVIC",
                                                     Account="acme")),
        NOTIFY, "Service"),
    "notify_without_target": _case(
        lambda t: plugin_block(t.account(), t.notify(drop=("RoutingKey",))),
        NOTIFY, "RoutingKey"),
    "service_without_account": _case(
        lambda t: plugin_block(t.account(), t.notify(drop=("RoutingKey",),
                                                     Service="PSERVIC")),
        NOTIFY, "Account"),
    "notify_account_names_no_account": _case(
        lambda t: plugin_block(t.account(), t.notify(Account="nosuch")),
        NOTIFY, "Account", also=("nosuch",)),
    "duplicate_account_name": _case(
        lambda t: plugin_block(t.account(), t.account(), t.notify()),
        ACCOUNT, "Account"),
    "duplicate_notify_name": _case(
        lambda t: plugin_block(t.account(), t.notify(), t.notify()),
        NOTIFY, "Notify"),
    "account_with_empty_name": _case(
        lambda t: plugin_block(t.account(name="")),
        TOP, "Account"),
    # Token files.
    "token_file_missing": _case(
        lambda t: plugin_block(t.account(
            TokenFile=os.path.join(t.tempdir().path, "no-such-token"))),
        ACCOUNT, "TokenFile"),
    "token_file_is_a_directory": _case(
        lambda t: plugin_block(t.account(TokenFile=t.tempdir().path)),
        ACCOUNT, "TokenFile"),
    "token_file_empty": _case(
        lambda t: plugin_block(t.account(TokenFile=harness.write_secret_file(
            os.path.join(t.tempdir().path, "token"), ""))),
        ACCOUNT, "TokenFile"),
    # Numbers.
    "negative_interval": _case(
        lambda t: plugin_block(t.account(Interval=-5)),
        ACCOUNT, "Interval"),
    "interval_is_a_string": _case(
        lambda t: plugin_block(t.account(Interval="abc")),
        ACCOUNT, "Interval"),
    "negative_slow_interval": _case(
        lambda t: plugin_block(t.account(SlowInterval=-1)),
        ACCOUNT, "SlowInterval"),
    "negative_timeout": _case(
        lambda t: plugin_block(t.account(Timeout=-1)),
        ACCOUNT, "Timeout"),
    "max_requests_per_minute_0": _case(
        lambda t: plugin_block(t.account(MaxRequestsPerMinute=0)),
        ACCOUNT, "MaxRequestsPerMinute"),
    "max_requests_per_minute_2000": _case(
        lambda t: plugin_block(t.account(MaxRequestsPerMinute=2000)),
        ACCOUNT, "MaxRequestsPerMinute"),
    "negative_note_interval": _case(
        lambda t: plugin_block(t.account(), t.notify(NoteInterval=-1)),
        NOTIFY, "NoteInterval"),
    # Booleans and enumerations.
    "verify_peer_not_boolean": _case(
        lambda t: plugin_block(t.account(VerifyPeer="maybe")),
        ACCOUNT, "VerifyPeer"),
    "bad_collect": _case(
        lambda t: plugin_block(t.account(Collect=("services", "bogus"))),
        ACCOUNT, "Collect"),
    "bad_instance_by": _case(
        lambda t: plugin_block(t.account(InstanceBy="email")),
        ACCOUNT, "InstanceBy"),
    "bad_severity": _case(
        lambda t: plugin_block(t.account(), t.notify(Severity=("FAILURE",
                                                               "CRITICAL"))),
        NOTIFY, "Severity"),
    # URLs.
    "malformed_url": _case(
        lambda t: plugin_block(t.account(URL="api.pagerduty.com")),
        ACCOUNT, "URL"),
    "url_with_two_values": _case(
        lambda t: plugin_block(t.account(URL=(t.counter.url, t.counter.url))),
        ACCOUNT, "URL"),
    "http_url_not_loopback": _case(
        lambda t: plugin_block(t.account(URL="http://api.pagerduty.com")),
        ACCOUNT, "URL"),
    "http_events_url_not_loopback": _case(
        lambda t: plugin_block(t.account(), t.notify(
            EventsURL="http://events.pagerduty.com")),
        NOTIFY, "EventsURL"),
    # CR/LF in strings that end up in HTTP headers (raw bytes in the
    # quoted config string: collectd's parser keeps them).
    "crlf_in_token": _case(
        lambda t: plugin_block(t.account(drop=("TokenFile",),
                                         Token=t.token + "\r\nX-Evil: 1")),
        ACCOUNT, "Token"),
    "lf_in_from": _case(
        lambda t: plugin_block(t.account(From="ops@example.com\nX-Evil: 1")),
        ACCOUNT, "From"),
    "cr_in_team": _case(
        lambda t: plugin_block(t.account(Team="PTEAM01\rX")),
        ACCOUNT, "Team"),
    "empty_team": _case(
        lambda t: plugin_block(t.account(Team="")),
        ACCOUNT, "Team"),
    # Notify matching and templates.
    "bad_regex": _case(
        lambda t: plugin_block(t.account(), t.notify(Host="/web[0-9/")),
        NOTIFY, "Host"),
    "routing_key_wrong_length": _case(
        lambda t: plugin_block(t.account(), t.notify(
            RoutingKey=ROUTING_KEY[:20])),
        NOTIFY, "RoutingKey"),
    "bad_dedup_key_placeholder": _case(
        lambda t: plugin_block(t.account(), t.notify(
            DedupKey="%{host}/%{bogus}")),
        NOTIFY, "DedupKey"),
    "unterminated_dedup_key_placeholder": _case(
        lambda t: plugin_block(t.account(), t.notify(
            DedupKey="%{host}/%{plugin")),
        NOTIFY, "DedupKey"),
}


def _make_case_test(conf_fn, where, option, env, also):
    def test(self):
        self.assertRefused(conf_fn(self), where, option, env=env, also=also)
    return test


for _name, (_fn, _where, _option, _env, _also) in CASES.items():
    _test = _make_case_test(_fn, _where, _option, _env, _also)
    _test.__name__ = "test_refuses_" + _name
    _test.__doc__ = "refused: %s" % _name.replace("_", " ")
    setattr(ConfigErrorTest, _test.__name__, _test)


class ConfigWarningTest(DaemonTestCase):
    """Accepted with a WARNING - and the account really works."""

    def setUp(self):
        super().setUp()
        self.sim = self.start_simulator(scenario="demo")

    def run_account(self, *, url=None, env=None, **options):
        conf = plugin_block(block("Account", "acme", [
            ("URL", url or self.sim.url), ("Interval", 1)] +
            list(options.items())))
        daemon = self.start_collectd(conf, env=env)
        daemon.wait_for_value(daemon.identifier("acme", "gauge", "api-up"),
                              lambda v: v == 1)
        self.assertEqual(daemon.errors(), [])
        return daemon

    def assertOneWarningNaming(self, daemon, *words):
        warnings = [w for w in daemon.warnings()
                    if all(word in w for word in words)]
        self.assertEqual(len(warnings), 1, "expected one WARNING naming %s; "
                         "got %s" % (words, daemon.warnings()))
        self.assertRegex(warnings[0], ACCOUNT)
        return warnings[0]

    def test_token_file_readable_by_others_warns_but_works(self):
        path = self.token_file(self.sim.token, mode=0o644)
        daemon = self.run_account(TokenFile=path)
        self.assertOneWarningNaming(daemon, "TokenFile")
        self.assertSecretNowhere(daemon, self.sim.token, exclude=[path])

    def test_token_file_readable_by_group_warns_but_works(self):
        path = self.token_file(self.sim.token, mode=0o640)
        daemon = self.run_account(TokenFile=path)
        self.assertOneWarningNaming(daemon, "TokenFile")

    def test_private_token_file_draws_no_warning(self):
        path = self.token_file(self.sim.token, mode=0o600)
        daemon = self.run_account(TokenFile=path)
        self.assertEqual(daemon.warnings(), [])

    def test_token_from_environment(self):
        daemon = self.run_account(env={harness.TOKEN_ENV: self.sim.token})
        self.assertEqual(daemon.warnings(), [])
        self.assertSecretNowhere(daemon, self.sim.token)

    def test_verify_peer_false_warns_and_takes_effect(self):
        # The simulator serves a certificate of a CA nobody trusts: only
        # with VerifyPeer false can the account reach it.
        ca = harness.make_test_ca(self.tempdir("pdca-").path)
        self.sim.stop()
        self.sim = self.start_simulator(scenario="demo", tls=ca)
        self.assertTrue(self.sim.url.startswith("https://"), self.sim.url)
        path = self.token_file(self.sim.token)
        daemon = self.run_account(TokenFile=path, VerifyPeer=False)
        self.assertOneWarningNaming(daemon, "VerifyPeer")

    def test_verify_host_false_warns(self):
        ca = harness.make_test_ca(self.tempdir("pdca-").path)
        self.sim.stop()
        self.sim = self.start_simulator(scenario="demo", tls=ca)
        path = self.token_file(self.sim.token)
        daemon = self.run_account(TokenFile=path, VerifyHost=False,
                                  CACert=ca.ca_cert)
        self.assertOneWarningNaming(daemon, "VerifyHost")


if __name__ == "__main__":
    harness.main()
