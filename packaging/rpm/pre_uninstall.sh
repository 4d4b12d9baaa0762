# queuecast %preun: on erase (not upgrade), stop and disable the services.
if [ "$1" -eq 0 ] && [ -d /run/systemd/system ]; then
    systemctl --no-reload disable --now queuecast.service queuecast-gateway.service >/dev/null 2>&1 || :
fi
