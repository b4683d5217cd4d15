# SPDX-License-Identifier: MIT
"""Writing collectd configuration: values, blocks, the <Plugin pagerduty>
block, and the body of a <Plugin threshold> block."""

from .settings import PLUGIN_NAME


class Raw(str):
    """A config value written verbatim (unquoted), e.g. Raw("abc")."""


def quote(value):
    """One collectd config value: strings quoted (backslash and double
    quote escaped; every other byte, CR/LF included, kept), numbers and
    booleans bare."""
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return '"%s"' % text


def option_lines(options, indent="  "):
    """options: a dict or a list of (key, value) pairs; a list/tuple value
    puts several values on one line (Collect "a" "b"). Repeat a key by
    using the pair form. A value of None leaves the option out."""
    items = options.items() if isinstance(options, dict) else options
    lines = []
    for key, value in items:
        if value is None:
            continue
        values = value if isinstance(value, (list, tuple)) else [value]
        lines.append("%s%s %s" % (indent, key,
                                  " ".join(quote(v) for v in values)))
    return lines


def block(kind, name, options=(), body=""):
    """<kind "name"> ... </kind>, e.g. block("Account", "acme", {...})."""
    head = "<%s %s>" % (kind, quote(name)) if name is not None \
        else "<%s>" % kind
    lines = ["  " + head]
    lines += option_lines(options, indent="    ")
    if body:
        lines += ["    " + l for l in body.strip("\n").splitlines()]
    lines.append("  </%s>" % kind)
    return "\n".join(lines)


def plugin_block(*blocks, options=()):
    """The whole <Plugin pagerduty> block: top-level options, then the
    given Account/Notify blocks (strings from block())."""
    lines = ["<Plugin %s>" % PLUGIN_NAME]
    lines += option_lines(options)
    lines += list(blocks)
    lines.append("</Plugin>")
    return "\n".join(lines) + "\n"


def account_block(name, url, token_file=None, token=None, **options):
    """An <Account> block; options in the order given (Python keeps keyword
    order), e.g. account_block("demo", sim.url, token_file=p, Interval=1)."""
    items = [("TokenFile", token_file), ("Token", token), ("URL", url)]
    items += list(options.items())
    return block("Account", name, items)


def threshold_config(host="web01", plugin="app", type_="gauge", **options):
    """The body of a <Plugin threshold> block watching host/plugin/type,
    e.g. threshold_config(FailureMax=90, Persist=True)."""
    lines = ['<Host %s>' % quote(host), '  <Plugin %s>' % quote(plugin),
             '    <Type %s>' % quote(type_)]
    lines += option_lines(options, indent="      ")
    lines += ['    </Type>', '  </Plugin>', '</Host>']
    return "\n".join(lines)
