package systemd

// How journal fields become document fields. The names follow Filebeat's
// journald input (filebeat/input/journald/pkg/journalfield) with the ECS
// names this project settled on for the common ones (process.*, user.*,
// host.boot.id); every field without a row here goes to
// journald.custom.<name lower-cased, leading underscores trimmed>.

type fieldKind uint8

const (
	kindText      fieldKind = iota // JSON string
	kindInt                        // decimal integer as a JSON number
	kindIntString                  // decimal integer as a JSON string (ECS keyword ids)

	// Leaves not taken from a journal field.
	kindTimestamp
	kindDataset
	kindEventKind
	kindHostName
	kindBootID
	kindCursor
	kindFlags
	kindCustom
	kindBase64
	kindTruncated
	kindInvalidFields
)

// leafSpec is one leaf of the document, in document order.
type leafSpec struct {
	path    string    // dotted document path
	journal string    // journal field name, "" for virtual leaves
	kind    fieldKind //
}

var leafSpecs = []leafSpec{
	{"@timestamp", "", kindTimestamp},
	{"message", "MESSAGE", kindText},
	{"message_id", "MESSAGE_ID", kindText},
	{"event.dataset", "", kindDataset},
	{"event.kind", "", kindEventKind},
	{"host.name", "", kindHostName},
	{"host.hostname", "_HOSTNAME", kindText},
	{"host.id", "_MACHINE_ID", kindText},
	{"host.boot.id", "", kindBootID},
	{"systemd.unit", "_SYSTEMD_UNIT", kindText},
	{"systemd.user_unit", "_SYSTEMD_USER_UNIT", kindText},
	{"systemd.slice", "_SYSTEMD_SLICE", kindText},
	{"systemd.user_slice", "_SYSTEMD_USER_SLICE", kindText},
	{"systemd.cgroup", "_SYSTEMD_CGROUP", kindText},
	{"systemd.transport", "_TRANSPORT", kindText},
	{"systemd.invocation_id", "_SYSTEMD_INVOCATION_ID", kindText},
	{"systemd.owner_uid", "_SYSTEMD_OWNER_UID", kindInt},
	{"systemd.session", "_SYSTEMD_SESSION", kindText},
	{"process.pid", "_PID", kindInt},
	{"process.thread.id", "TID", kindInt},
	{"process.name", "_COMM", kindText},
	{"process.executable", "_EXE", kindText},
	{"process.command_line", "_CMDLINE", kindText},
	{"log.syslog.priority", "PRIORITY", kindInt},
	{"log.syslog.facility.code", "SYSLOG_FACILITY", kindInt},
	{"log.syslog.identifier", "SYSLOG_IDENTIFIER", kindText},
	{"log.flags", "", kindFlags},
	{"syslog.pid", "SYSLOG_PID", kindInt},
	{"user.id", "_UID", kindIntString},
	{"user.group.id", "_GID", kindIntString},
	{"container.id", "CONTAINER_ID_FULL", kindText},
	{"container.id_truncated", "CONTAINER_ID", kindText},
	{"container.name", "CONTAINER_NAME", kindText},
	{"container.image.name", "IMAGE_NAME", kindText},
	{"container.log.tag", "CONTAINER_TAG", kindText},
	{"container.partial", "CONTAINER_PARTIAL_MESSAGE", kindText},
	{"journald.cursor", "", kindCursor},
	{"journald.unit", "UNIT", kindText},
	{"journald.audit.login_uid", "_AUDIT_LOGINUID", kindInt},
	{"journald.audit.session", "_AUDIT_SESSION", kindText},
	{"journald.process.capabilities", "_CAP_EFFECTIVE", kindText},
	{"journald.code.file", "CODE_FILE", kindText},
	{"journald.code.func", "CODE_FUNC", kindText},
	{"journald.code.line", "CODE_LINE", kindInt},
	{"journald.coredump.unit", "COREDUMP_UNIT", kindText},
	{"journald.coredump.user_unit", "COREDUMP_USER_UNIT", kindText},
	{"journald.object.pid", "OBJECT_PID", kindInt},
	{"journald.object.uid", "OBJECT_UID", kindInt},
	{"journald.object.gid", "OBJECT_GID", kindInt},
	{"journald.object.process.name", "OBJECT_COMM", kindText},
	{"journald.object.process.executable", "OBJECT_EXE", kindText},
	{"journald.object.process.command_line", "OBJECT_CMDLINE", kindText},
	{"journald.object.audit.login_uid", "OBJECT_AUDIT_LOGINUID", kindInt},
	{"journald.object.audit.session", "OBJECT_AUDIT_SESSION", kindInt},
	{"journald.object.systemd.owner_uid", "OBJECT_SYSTEMD_OWNER_UID", kindInt},
	{"journald.object.systemd.session", "OBJECT_SYSTEMD_SESSION", kindText},
	{"journald.object.systemd.unit", "OBJECT_SYSTEMD_UNIT", kindText},
	{"journald.object.systemd.user_unit", "OBJECT_SYSTEMD_USER_UNIT", kindText},
	{"journald.kernel.device", "_KERNEL_DEVICE", kindText},
	{"journald.kernel.subsystem", "_KERNEL_SUBSYSTEM", kindText},
	{"journald.kernel.device_name", "_UDEV_SYSNAME", kindText},
	{"journald.kernel.device_node_path", "_UDEV_DEVNODE", kindText},
	{"journald.kernel.device_symlinks", "_UDEV_DEVLINK", kindText},
	{"journald.custom", "", kindCustom},
	{"journald.invalid_fields", "", kindInvalidFields},
	{"journald.base64", "", kindBase64},
	{"journald.truncated", "", kindTruncated},
}
