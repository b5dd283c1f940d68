/* printrelay agent: the library a printer vendor links into device firmware.
 *
 * One pr_agent drives one device. It enrolls with the relays, polls them for jobs (long-poll when
 * the relay offers it), runs the jobs through the device hooks below, and delivers reports from a
 * durable outbox until each is confirmed by a receipt whose SHA-256 matches what was sent.
 *
 * Contracts a vendor may rely on:
 *  - Nothing throws across this header; every function returns a pr_status.
 *  - The library writes its log messages to the embedder's pr_log_fn
 *    (pr_agent_set_log_callback), or to stderr when none is set; to nothing else.
 *  - pr_agent_submit_report returns only after the report is durable in the state directory: a
 *    crash or power cut afterwards does not lose it, it is sent after restart.
 *  - All functions are thread-safe for one handle, except pr_agent_destroy, which must be the
 *    last call.
 *  - Hooks are called from the agent's own threads (the poller and the sender), possibly at the
 *    same time: they must be thread-safe and must not call pr_agent_stop/destroy.
 *  - Relay URLs are tried in the configured order; on a transport failure or a 5xx answer the
 *    next one is used (wrapping around with backoff). Device credentials are kept per relay URL
 *    in the state directory, which is created 0700; its files are created 0600.
 *  - Pacing: the relay's next_poll_s hint is taken within [5 s, min(4 x the policy interval,
 *    7 days)], so no relay can silence a device for longer.
 *  - With job keys (below) the relay is not trusted: its poll policy is ignored (only signed
 *    schedule jobs change the policy), signed jobs must expire within 400 days and each envelope
 *    runs once, firmware is never downgraded unless the signed job allows it, and a download
 *    stops as soon as the relay sends more than the vendor-signed manifest's size.
 */
#ifndef PRINTRELAY_AGENT_H
#define PRINTRELAY_AGENT_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum pr_status {
  PR_OK = 0,
  PR_ERR_INVALID = 1,   /* bad argument: NULL, malformed JSON, unknown kind or urgency */
  PR_ERR_STATE = 2,     /* wrong lifecycle step (start twice, submit after destroy...) */
  PR_ERR_IO = 3,        /* the state directory could not be written durably */
  PR_ERR_NOT_FOUND = 4, /* nothing to return (no panel reply yet) */
  PR_ERR_BUFFER = 5,    /* the caller's buffer is too small */
  PR_ERR_INTERNAL = 6   /* unexpected failure inside the agent (logged, see pr_log_fn) */
} pr_status;

/* A short English text for a status. Never NULL. */
const char* pr_status_text(pr_status status);

/* How much a log message matters. */
typedef enum pr_log_level {
  PR_LOG_ERROR = 0, /* something asked of the agent was not done, or not kept durably */
  PR_LOG_WARN = 1,  /* worked around: a relay unreachable or refusing, a state file ignored */
  PR_LOG_INFO = 2,
  PR_LOG_DEBUG = 3
} pr_log_level;

/* Receives the agent library's log messages. `level` is a pr_log_level; `message` is one line
 * without a trailing newline, valid only during the call (copy it to keep it). */
typedef void (*pr_log_fn)(void* user, int level, const char* message);

/* Sends the log messages of every agent in this process to fn (with `user` passed back);
 * fn == NULL restores the default, one line per message on stderr. Process-wide, not per agent,
 * because pr_agent_create logs why it failed before any agent exists; messages about one device
 * name its serial. Set it before pr_agent_create to see those.
 *
 * fn is called from the agent's threads and from the thread calling into the agent, one call at
 * a time (calls are serialised under a lock held while fn runs, so fn need not be thread-safe).
 * fn must return quickly, must not throw, and must not call back into the agent library
 * (pr_agent_* functions, including this one): that deadlocks. Once this function has returned,
 * the previous fn is not called any more, so its `user` may be freed. */
void pr_agent_set_log_callback(pr_log_fn fn, void* user);

/* Output buffer handed to hooks: the hook calls pr_buffer_set with its JSON or reason text. */
typedef struct pr_buffer pr_buffer;
void pr_buffer_set(pr_buffer* buffer, const char* data, size_t length);

/* What the agent asks of the device. Every hook may be NULL (then the data is "not available",
 * settings are refused, the state is "idle"). Hooks return 0 on success, non-zero otherwise. */
typedef struct pr_device_hooks {
  void* user; /* passed back as the first argument of every hook */

  /* A data set (seed 001 Fig. 3: "counters", "supplies", "identification", "structure", "calls",
   * "jams", "adjustment", "settings", "comm-history", "error-log") as a JSON object. Non-zero:
   * this device does not have it. For "comm-history" and "error-log" the agent answers from its
   * own records when the hook has none. */
  int (*read_data_set)(void* user, const char* name, pr_buffer* json_out);

  /* Settings rewrite (seed 001 Fig. 4). `settings_json` is an object of name -> value. With
   * validate_only != 0 only check against the device's setting schema. Non-zero: refused; write
   * the reason (shown to the service center as the NG cause) into reason_out. */
  int (*apply_settings)(void* user, const char* settings_json, int validate_only,
                        pr_buffer* reason_out);

  /* "idle", "printing" or "error", written into state_out. */
  int (*current_state)(void* user, pr_buffer* state_out);

  /* The counters report body (used for the poll policy's counter conditions). */
  int (*read_counters)(void* user, pr_buffer* json_out);

  /* Firmware summary, e.g. {"main": "1.0.3", "controller": "2.1"}. */
  int (*firmware_summary)(void* user, pr_buffer* json_out);

  /* A reboot job. NULL: the agent just reports success. */
  int (*reboot)(void* user);

  /* The relay's reply to a panel message or order (seed 002), to show on the panel:
   * {"report_id", "reception_no", "description"}. May be NULL. */
  void (*panel_reply)(void* user, const char* reply_json);

  /* --- firmware (DESIGN.md section 8): A/B slots per component --- */

  /* What keeps the device busy at the update time: PR_BUSY_PRINTING (a print, copy, scan or fax
   * job is running) | PR_BUSY_PANEL (a user is operating the panel); 0 when idle. NULL: never
   * busy. */
  int (*busy)(void* user);

  /* Writes the verified image at `image_path` as `component` version `version` into that
   * component's inactive slot. Takes as long as the write takes; the active slot is untouched, so
   * a power cut during the write leaves the device bootable. Non-zero: failed, reason in
   * reason_out. NULL: the device takes no firmware (firmware jobs fail with that reason). */
  int (*firmware_write)(void* user, const char* component, const char* version,
                        const char* image_path, pr_buffer* reason_out);

  /* Boots into the slots written since the last boot. The device arranges the reboot and
   * returns; it then stops the agent (from its own thread, never from inside a hook), boots
   * (falling back to the previous slots when the new image does not boot) and starts the agent
   * again, which confirms the result from last_boot and firmware_summary. Non-zero: refused. */
  int (*firmware_activate)(void* user);

  /* How the last boot went: {"slots": {"main": "B", ...}, "fell_back": bool, "reason": text}.
   * NULL or non-zero: the agent judges from firmware_summary alone. */
  int (*last_boot)(void* user, pr_buffer* json_out);

  /* What the panel should show about a firmware job (seed 004 Fig. 26-28), as JSON:
   *   {"screen": "waiting" | "updating" | "done" | "failed" | "none", "job_id",
   *    "update_at" (RFC 3339), "expected_end", "old": {"main": "1.0"}, "new": {"main": "2.0"},
   *    "reason", "can_defer": bool, "can_cancel": bool}
   * "updating" means: do not power off. May be NULL. */
  void (*firmware_screen)(void* user, const char* screen_json);
} pr_device_hooks;

#define PR_BUSY_PRINTING 1
#define PR_BUSY_PANEL 2

typedef struct pr_agent_config {
  const char* const* relay_urls; /* ordered, e.g. "https://relay1.example:8443" */
  size_t relay_url_count;
  const char* serial; /* 1-64 chars of [A-Za-z0-9._:-] */
  const char* model;
  const char* enrollment_code; /* as pre-registered by the service center */
  const char* state_dir;       /* created if missing; one per device */
  const char* ca_file;         /* PEM bundle to verify relays; NULL: system store */
  int insecure;                /* skip TLS verification (tests only) */
  const char* proxy;           /* e.g. "http://proxy.lan:3128"; NULL: none */
  int long_poll_wait_s;        /* 0 disables long-poll; default 25 (max 60) */
  int poll_interval_s;         /* 0: relay/persisted policy; else initial interval override */
  int connect_timeout_ms;      /* default 5000 */

  /* Files of PEM Ed25519 public keys. Vendor keys: a firmware image is installed only when its
   * signed manifest verifies against one of them. Job keys (the service center's): when any is
   * given, every job must carry an envelope signed by one of them (docs/protocol.md, "Signed job
   * envelopes"); firmware jobs are refused by a device that trusts no job key. */
  const char* const* vendor_key_files;
  size_t vendor_key_count;
  const char* const* job_key_files;
  size_t job_key_count;
  long download_rate_limit;      /* bytes per second for firmware downloads; 0: unlimited */
  int firmware_check_interval_s; /* ask the relay for newer firmware this often; 0: never */
} pr_agent_config;

/* Fills defaults (long_poll_wait_s 25, connect_timeout_ms 5000, everything else 0/NULL). */
void pr_agent_config_init(pr_agent_config* config);

typedef struct pr_agent pr_agent;

/* Creates the agent and reloads its outbox, tokens, poll policy and finished jobs from the state
 * directory. Copies everything it needs from config and hooks. */
pr_status pr_agent_create(const pr_agent_config* config, const pr_device_hooks* hooks,
                          pr_agent** out);
/* Starts the poller and sender threads. */
pr_status pr_agent_start(pr_agent* agent);
/* Stops and joins the threads; in-flight requests are aborted. Idempotent. Undelivered reports
 * stay in the outbox for the next start. */
pr_status pr_agent_stop(pr_agent* agent);
/* Stops if needed and frees. NULL is allowed. */
void pr_agent_destroy(pr_agent* agent);

/* Queues a report durably and wakes the sender. kind: a report kind of docs/protocol.md;
 * urgency: "low", "normal", "high" or "fatal" (NULL = "normal"; high and fatal are alerts and
 * go ahead of everything else); body_json: a JSON object. The report id (at most 64 chars) is
 * written to report_id_out when it is not NULL; its size must then be at least 65
 * (PR_ERR_BUFFER otherwise, checked before anything is queued). */
pr_status pr_agent_submit_report(pr_agent* agent, const char* kind, const char* urgency,
                                 const char* body_json, char* report_id_out, size_t report_id_size);

/* How bad a fault is, as judged by the device (seed 001 Fig. 5). */
typedef enum pr_fault_severity {
  PR_FAULT_RECOVERED = 0, /* e.g. a jam cleared by the user: logged, counted, no alert */
  PR_FAULT_DEGRADED = 1,  /* a function is disabled: alert with urgency high */
  PR_FAULT_FATAL = 2      /* the device stopped / service call: alert with urgency fatal, now */
} pr_fault_severity;

typedef struct pr_fault {
  pr_fault_severity severity;
  const char* type;     /* "service_call", "jam", "supply_empty", "part_eol" */
  const char* code;     /* "SC542", "J-101" ... */
  const char* sc_type;  /* "A".."D" for service calls, else NULL */
  const char* message;  /* free text, may be NULL */
  const char* location; /* e.g. "tray2" for a jam, may be NULL */
} pr_fault;

/* Records a fault. A recovered fault goes into the agent's error log ("error-log" data set); a
 * degraded or fatal one is also submitted at once as an alert report (body: type, code, sc_type,
 * message). The fault code also fires the poll policy's error_code conditions. report_id_out
 * receives the alert's id (empty for a recovered fault). */
pr_status pr_agent_report_fault(pr_agent* agent, const pr_fault* fault, char* report_id_out,
                                size_t report_id_size);

/* The last panel reply as JSON {"report_id", "reception_no", "description"}; PR_ERR_NOT_FOUND
 * when none came yet. Persisted across restarts. */
pr_status pr_agent_last_panel_reply(pr_agent* agent, char* json_out, size_t json_size);

/* Agent status as JSON: {"relay_url", "outbox_size", "last_poll_at", "last_poll_ok",
 * "poll_policy", "pending_jobs", "long_poll"}. */
pr_status pr_agent_status(pr_agent* agent, char* json_out, size_t json_size);

/* The panel's answer on a firmware "waiting" screen: "defer" (by the job's deferment period,
 * within its deferral maximum) or "cancel" (the job ends cancelled at the device). PR_ERR_STATE
 * when no firmware job can be deferred or cancelled now (none waiting, or the write started). */
pr_status pr_agent_firmware_panel(pr_agent* agent, const char* action);

/* Asks the poller to call the relay now (as if a poll condition fired). */
pr_status pr_agent_poll_now(pr_agent* agent);

#ifdef __cplusplus
}
#endif

#endif /* PRINTRELAY_AGENT_H */
