/*
 * Fuzz target for the compositor->guest direction of the pipeline core.
 *
 * The same harness as fuzz_policy.c (see its comment for the input format,
 * the shadow maps and the checks), in compositor mode: every input starts
 * after a fixed valid session -- get_registry and a sync answered with ten
 * globals (some hidden by policy), binds, a surface with an xdg_toplevel
 * (title, app_id, first commit), a keyboard and a pointer, a data device
 * and a data source, dmabuf feedback -- and the actions are then mostly the
 * compositor's: structured events (configures, enter/leave, data offers and
 * selections, keymaps and format tables with fds, registry globals and
 * removals, delete_ids) and raw event bytes with fds of any kind, with an
 * occasional guest request to move the state on.
 *
 * What reaches the guest must re-parse against the guest's map, carry
 * exactly the fds each message needs, all of them memory or pipe write ends
 * (what the front ends can turn into items); nothing may crash or leak.
 */
#define FUZZ_COMPOSITOR_MODE 1
#include "fuzz_policy.c"
