/** A seq_file: what a show function writes into (seq_printf, seq_puts). */
export class SeqFile {
  buf = ''
  /** The private pointer single_open passes along (proc_create_single's data). */
  constructor (readonly priv: unknown = undefined) {}
}
