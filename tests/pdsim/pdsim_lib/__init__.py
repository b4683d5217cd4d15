# SPDX-License-Identifier: MIT
"""pdsim: a PagerDuty REST API v2 + Events API v2 simulator (standard library only).

One job per module:
  timeutil   ISO 8601 parsing/formatting and the simulator clock
  ids        deterministic PagerDuty-style identifiers, tokens and keys
  model      the account: records, indexes and the state lock
  render     internal records -> PagerDuty JSON representations
  oncall     schedule rendering (layers, restrictions, final schedule) and on-call sets
  scenarios  demo / large / random accounts
  pagination classic offset/limit pagination
  behaviour  switches for what GET /incidents leaves undocumented (since/until
             unit, sort_by, the account's time zone)
  errors     PagerDuty-shaped error bodies
  ratelimit  rolling 60 s budgets (REST per user/key, Events per routing key)
  faults     injected failures for tests
  rest       REST API v2 handlers
  events     Events API v2 (/v2/enqueue)
  control    the /_sim/ test interface
  server     HTTP(S) server, dispatch, request log
"""
