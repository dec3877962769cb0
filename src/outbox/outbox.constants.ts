/** The outbox relay's name in `HostingRegistry` (a hosted background service): `registry.get(OUTBOX_RELAY_NAME)`. */
export const OUTBOX_RELAY_NAME = 'outbox.relay';
