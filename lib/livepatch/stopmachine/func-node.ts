// struct klp_func_node and klp_func_list: one node per patched old function,
// shared by every patch that patches it. The node's func_stack decides which
// new function runs (its last entry, the newest), and the node owns the text
// written over the old function's entry: the original instructions, a jump to
// the active new function, or a breakpoint that sends callers to brk_func
// while a patch waits for its retries. The simulated kernel honours that text
// through Ksym.jump on its dispatch path.
import type { Ksym } from '../../kernel/kallsyms'
import type { KlpFunc } from '../types'

type EntryText = Ksym['jump']

export class KlpFuncNode {
  /** func_stack, oldest first: the last entry is the active one. */
  readonly funcStack: KlpFunc[] = []
  /** Where the breakpoint handler sends callers (klp_get_brk_func), while a breakpoint is planted. */
  brkFunc: Ksym | undefined = undefined
  /** arch_data.old_insns: the entry as it was before livepatch wrote it. */
  private readonly oldInsns: EntryText
  /** arch_data.saved_opcode: the entry the breakpoint replaced. */
  private savedOpcode: EntryText = undefined
  private breakpoint: EntryText = undefined

  constructor (readonly oldFunc: Ksym) {
    this.oldInsns = oldFunc.jump
  }

  /** list_first_or_null_rcu(&func_stack): the active func. */
  get top (): KlpFunc | undefined { return this.funcStack[this.funcStack.length - 1] }

  /** arch_klp_patch_func: push, then write a jump to the new function. */
  patch (func: KlpFunc): void {
    this.funcStack.push(func)
    this.oldFunc.jump = jumpTo(func.newFunc!)
  }

  /** arch_klp_unpatch_func: pop, then jump to the new top or put the original instructions back. */
  unpatch (func: KlpFunc): void {
    const i = this.funcStack.lastIndexOf(func)
    if (i >= 0) this.funcStack.splice(i, 1)
    const top = this.top
    this.oldFunc.jump = top ? jumpTo(top.newFunc!) : this.oldInsns
  }

  get hasBreakpoint (): boolean { return this.breakpoint !== undefined && this.oldFunc.jump === this.breakpoint }

  /** add_breakpoint: set brk_func, then plant the breakpoint over the entry's first instruction. */
  addBreakpoint (newFunc: Ksym): void {
    this.brkFunc = newFunc
    this.savedOpcode = this.oldFunc.jump
    this.breakpoint = () => this.brkFunc
    this.oldFunc.jump = this.breakpoint
  }

  /**
   * remove_breakpoint: with restore, the saved instruction goes back unless a
   * jump already overwrote the breakpoint (the patch succeeded); brk_func is
   * cleared either way.
   */
  removeBreakpoint (restore: boolean): void {
    if (!this.brkFunc) return
    if (restore && this.hasBreakpoint) this.oldFunc.jump = this.savedOpcode
    this.brkFunc = undefined
    this.breakpoint = undefined
    this.savedOpcode = undefined
  }
}

function jumpTo (target: Ksym): EntryText {
  return () => target
}

/** klp_func_list: the nodes of every old function that is (being) patched. */
export class KlpFuncList {
  private readonly nodes = new Map<Ksym, KlpFuncNode>()

  /** klp_find_func_node */
  find (oldFunc: Ksym | undefined): KlpFuncNode | undefined {
    return oldFunc ? this.nodes.get(oldFunc) : undefined
  }

  /** func_node_alloc: the existing node of an old function, or a new one with the original entry saved. */
  alloc (oldFunc: Ksym): KlpFuncNode {
    let node = this.nodes.get(oldFunc)
    if (!node) {
      node = new KlpFuncNode(oldFunc)
      this.nodes.set(oldFunc, node)
    }
    return node
  }

  /** func_node_free: the node goes once no patch is on its stack. */
  release (node: KlpFuncNode): void {
    if (node.funcStack.length === 0 && !node.brkFunc) this.nodes.delete(node.oldFunc)
  }

  get size (): number { return this.nodes.size }

  all (): IterableIterator<KlpFuncNode> { return this.nodes.values() }
}
