#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# The shadow variable API, exercised by test_klp_shadow_vars' init
# (selftests-behaviour.md §3.3). Pointers print as PTR<n> in order of first use.

. "$(dirname "$0")/lib.sh"

MOD=test_klp_shadow_vars

klp_setup

begin_case "basic shadow variable API"
load_target $MOD
remove_module $MOD
want_insmod $MOD
# obj0 = PTR1, obj1 = PTR9, obj2 = PTR14; ctor = PTR4, dtor = PTR17
while IFS= read -r line; do
	want "$MOD: $line"
done <<'EOF'
klp_shadow_get(obj=PTR1, id=0x1234) = PTR0
  got expected NULL result
shadow_ctor: PTR3 -> PTR2
klp_shadow_get_or_alloc(obj=PTR1, id=0x1234, size=8, gfp_flags=GFP_KERNEL), ctor=PTR4, ctor_data=PTR2 = PTR3
shadow_ctor: PTR6 -> PTR5
klp_shadow_alloc(obj=PTR1, id=0x1235, size=8, gfp_flags=GFP_KERNEL), ctor=PTR4, ctor_data=PTR5 = PTR6
shadow_ctor: PTR8 -> PTR7
klp_shadow_alloc(obj=PTR9, id=0x1234, size=8, gfp_flags=GFP_KERNEL), ctor=PTR4, ctor_data=PTR7 = PTR8
shadow_ctor: PTR11 -> PTR10
klp_shadow_alloc(obj=PTR9, id=0x1235, size=8, gfp_flags=GFP_KERNEL), ctor=PTR4, ctor_data=PTR10 = PTR11
shadow_ctor: PTR13 -> PTR12
klp_shadow_get_or_alloc(obj=PTR14, id=0x1234, size=8, gfp_flags=GFP_KERNEL), ctor=PTR4, ctor_data=PTR12 = PTR13
shadow_ctor: PTR16 -> PTR15
klp_shadow_alloc(obj=PTR14, id=0x1235, size=8, gfp_flags=GFP_KERNEL), ctor=PTR4, ctor_data=PTR15 = PTR16
klp_shadow_get(obj=PTR1, id=0x1234) = PTR3
  got expected PTR3 -> PTR2 result
klp_shadow_get(obj=PTR1, id=0x1235) = PTR6
  got expected PTR6 -> PTR5 result
klp_shadow_get(obj=PTR9, id=0x1234) = PTR8
  got expected PTR8 -> PTR7 result
klp_shadow_get(obj=PTR9, id=0x1235) = PTR11
  got expected PTR11 -> PTR10 result
klp_shadow_get(obj=PTR14, id=0x1234) = PTR13
  got expected PTR13 -> PTR12 result
klp_shadow_get(obj=PTR14, id=0x1235) = PTR16
  got expected PTR16 -> PTR15 result
klp_shadow_get_or_alloc(obj=PTR1, id=0x1234, size=8, gfp_flags=GFP_KERNEL), ctor=PTR4, ctor_data=PTR2 = PTR3
  got expected PTR3 -> PTR2 result
klp_shadow_get_or_alloc(obj=PTR9, id=0x1234, size=8, gfp_flags=GFP_KERNEL), ctor=PTR4, ctor_data=PTR7 = PTR8
  got expected PTR8 -> PTR7 result
klp_shadow_get_or_alloc(obj=PTR14, id=0x1234, size=8, gfp_flags=GFP_KERNEL), ctor=PTR4, ctor_data=PTR12 = PTR13
  got expected PTR13 -> PTR12 result
shadow_dtor(obj=PTR1, shadow_data=PTR3)
klp_shadow_free(obj=PTR1, id=0x1234, dtor=PTR17)
klp_shadow_get(obj=PTR1, id=0x1234) = PTR0
  got expected NULL result
shadow_dtor(obj=PTR9, shadow_data=PTR8)
klp_shadow_free(obj=PTR9, id=0x1234, dtor=PTR17)
klp_shadow_get(obj=PTR9, id=0x1234) = PTR0
  got expected NULL result
shadow_dtor(obj=PTR14, shadow_data=PTR13)
klp_shadow_free(obj=PTR14, id=0x1234, dtor=PTR17)
klp_shadow_get(obj=PTR14, id=0x1234) = PTR0
  got expected NULL result
klp_shadow_get(obj=PTR1, id=0x1235) = PTR6
  got expected PTR6 -> PTR5 result
klp_shadow_get(obj=PTR9, id=0x1235) = PTR11
  got expected PTR11 -> PTR10 result
klp_shadow_get(obj=PTR14, id=0x1235) = PTR16
  got expected PTR16 -> PTR15 result
klp_shadow_free_all(id=0x1235, dtor=PTR0)
klp_shadow_get(obj=PTR1, id=0x1235) = PTR0
  got expected NULL result
klp_shadow_get(obj=PTR9, id=0x1235) = PTR0
  got expected NULL result
klp_shadow_get(obj=PTR14, id=0x1235) = PTR0
  got expected NULL result
EOF
want_rmmod $MOD
verify_log

exit 0
