#!/bin/sh
# Fill the ${NAME} placeholders (outside comments) of an Alertmanager configuration from the
# environment and start Alertmanager on the result (docker-compose.yml), or, with
# --out FILE, only write it (tests, `amtool check-config`). A placeholder whose
# variable is unset stops it: Alertmanager would otherwise start with alerts going
# nowhere. Values are taken literally (awk's ENVIRON: no shell or sed escaping);
# a single quote in a value would end the YAML string, so it is refused too.
set -eu
template=${GTX_ALERTMANAGER_TEMPLATE:-/etc/alertmanager/alertmanager.yml}
out=/tmp/alertmanager.yml
if [ "${1:-}" = "--out" ]; then
    out=$2
    shift 2
    only_render=true
else
    only_render=false
fi
# The quote comes in as a variable: busybox awk (the Alertmanager image's) and
# others differ on octal escapes.
awk -v quote="'" '
/^[ \t]*#/ { print; next }   # comments may name placeholders: left as they are
{
    line = $0; done = ""
    while (match(line, /\$\{[A-Za-z_][A-Za-z0-9_]*\}/)) {
        name = substr(line, RSTART + 2, RLENGTH - 3)
        if (!(name in ENVIRON)) { print "render.sh: " name " is not set" > "/dev/stderr"; bad = 1 }
        else if (index(ENVIRON[name], quote)) { print "render.sh: " name " holds a single quote" > "/dev/stderr"; bad = 1 }
        done = done substr(line, 1, RSTART - 1) ENVIRON[name]
        line = substr(line, RSTART + RLENGTH)
    }
    print done line
}
END { exit bad }
' "$template" > "$out"
if [ "$only_render" = true ]; then
    exit 0
fi
exec /bin/alertmanager --config.file="$out" --storage.path=/alertmanager "$@"
