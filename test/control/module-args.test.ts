// Module argument strings: kmod joins, the kernel splits.
import test from 'ava'
import { joinModuleArgs, splitModuleArgs } from '../../lib/control/module-args'

test('the kernel splits at whitespace outside double quotes and drops the quotes of a value', t => {
  t.deepEqual(splitModuleArgs(''), [])
  t.deepEqual(splitModuleArgs('   '), [])
  t.deepEqual(splitModuleArgs('a=1 b c=x'), ['a=1', 'b', 'c=x'])
  t.deepEqual(splitModuleArgs('  a=1\t\n b=2  '), ['a=1', 'b=2'])
  t.deepEqual(splitModuleArgs('s="two words" n=1'), ['s=two words', 'n=1'])
  t.deepEqual(splitModuleArgs('"s=all quoted" n'), ['s=all quoted', 'n'])
  t.deepEqual(splitModuleArgs('"flag"'), ['flag'])
  t.deepEqual(splitModuleArgs('s=a"b c"d'), ['s=a"b c"d'])
  t.deepEqual(splitModuleArgs('e= f=="x"'), ['e=', 'f=="x"'], 'only a value that starts with a quote loses it')
  t.deepEqual(splitModuleArgs('s="unterminated value'), ['s=unterminated value'])
})

test('kmod joins insmod\'s arguments with single spaces', t => {
  t.is(joinModuleArgs(['a=1', 's="x y"']), 'a=1 s="x y"')
  t.deepEqual(splitModuleArgs(joinModuleArgs(['a=1 b=2', 'c'])), ['a=1', 'b=2', 'c'])
})
