// The request types the control channel answers. To add one: write a
// RequestHandler in a file of this directory and list it here.
import type { RequestHandler } from '../context'
import { dmesg } from './dmesg'
import { info, ping } from './info'
import { insmod } from './insmod'
import { lsmod } from './lsmod'
import { moduleState } from './module'
import { rmmod } from './rmmod'
import { sysctl } from './sysctl'
import { task } from './task'
import { clock } from './clock'
import { fault } from './fault'
import { status } from './status'

export const REQUEST_HANDLERS: readonly RequestHandler[] = [
  ping,
  info,
  insmod,
  rmmod,
  moduleState,
  lsmod,
  dmesg,
  sysctl,
  task,
  clock,
  fault,
  status,
]
