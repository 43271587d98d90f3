/**
 * setpriv arguments for running a command as user nobody: not the daemon's owner,
 * yet able to read the checkout (CAP_DAC_READ_SEARCH), which may sit in a
 * directory only root can enter (a fresh clone in a mktemp directory). Reading
 * is all it gets: connecting to a socket still needs write permission.
 */
export const AS_NOBODY = ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=+dac_read_search', '--ambient-caps=+dac_read_search']
