# queuecast %post: create the system user (sysusers.d/queuecast.conf) and let systemd see the unit.
if command -v systemd-sysusers >/dev/null 2>&1; then
    systemd-sysusers queuecast.conf || :
elif ! getent passwd queuecast >/dev/null; then
    useradd --system --user-group --home-dir /var/lib/queuecast --no-create-home \
        --shell /sbin/nologin --comment "queuecast daemon" queuecast || :
fi
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
fi
