# queuecast %post: users, the asterisk group and the state directory (the same helper as the .deb's
# postinst, for systemd 219 to today's); then let systemd see the units. Installed disabled.
/usr/lib/queuecast/setup-system
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
fi
