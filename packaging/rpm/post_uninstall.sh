# queuecast %postun: reload systemd; on upgrade, restart running services onto the new binary.
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
    if [ "$1" -ge 1 ]; then
        systemctl try-restart queuecast.service queuecast-gateway.service >/dev/null 2>&1 || :
    fi
fi
