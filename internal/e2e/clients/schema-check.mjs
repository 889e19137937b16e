// Schema stability for integrators: compares the schema in the repository
// (schema.graphqls) with the last released one (docs/schema.graphqls) using
// graphql-js' own lists of breaking and dangerous changes, and fails unless
// every one of them is recorded in the schema changelog
// (docs/SCHEMA_CHANGELOG.md), word for word as graphql-js describes it.
// Additions that cannot break a client pass on their own. A field or enum
// value may only be removed after the released schema marked it
// @deprecated(reason: …): removing one that was not fails even when recorded.
//
// Usage: node schema-check.mjs RELEASED CURRENT CHANGELOG
// Exit status: 0 compatible (or every change recorded), 1 not, 2 bad input.
import { readFileSync } from 'node:fs';
import {
  BreakingChangeType,
  buildSchema,
  findBreakingChanges,
  findDangerousChanges,
  isEnumType,
  isInputObjectType,
  isInterfaceType,
  isObjectType,
} from 'graphql';

const [released, current, changelog] = process.argv.slice(2);
if (!released || !current || !changelog) {
  console.error('usage: node schema-check.mjs RELEASED CURRENT CHANGELOG');
  process.exit(2);
}

function load(path) {
  try {
    return buildSchema(readFileSync(path, 'utf8'));
  } catch (e) {
    console.error(`${path}: ${e.message}`);
    process.exit(2);
  }
}

const oldSchema = load(released);
const newSchema = load(current);
const log = readFileSync(changelog, 'utf8').replace(/`/g, '');

const breaking = findBreakingChanges(oldSchema, newSchema);
const dangerous = findDangerousChanges(oldSchema, newSchema);

// wasDeprecated reports whether a removed field or enum value carried
// @deprecated in the released schema.
function wasDeprecated(change) {
  let m;
  // graphql-js 17 says "Field T.f was removed." and "Enum value E.V was
  // removed."; 16 said "T.f was removed." and "V was removed from enum type E.".
  if (change.type === BreakingChangeType.FIELD_REMOVED && (m = /^(?:Field )?(\w+)\.(\w+) was removed\.$/.exec(change.description))) {
    const t = oldSchema.getType(m[1]);
    if (isObjectType(t) || isInterfaceType(t) || isInputObjectType(t)) {
      return Boolean(t.getFields()[m[2]]?.deprecationReason);
    }
  }
  if (change.type === BreakingChangeType.VALUE_REMOVED_FROM_ENUM) {
    let type, value;
    if ((m = /^Enum value (\w+)\.(\w+) was removed\.$/.exec(change.description))) [, type, value] = m;
    else if ((m = /^(\w+) was removed from enum type (\w+)\.$/.exec(change.description))) [, value, type] = m;
    const t = type && oldSchema.getType(type);
    if (isEnumType(t)) {
      return Boolean(t.getValue(value)?.deprecationReason);
    }
  }
  return null; // not a removal of a field or a value
}

const problems = [];
for (const c of breaking) {
  if (wasDeprecated(c) === false) {
    problems.push(`BREAKING, not deprecated first: ${c.description} Mark it @deprecated(reason: "…") in a release before removing it.`);
  } else if (!log.includes(c.description)) {
    problems.push(`BREAKING, not in the changelog: ${c.description}`);
  }
}
for (const c of dangerous) {
  if (!log.includes(c.description)) {
    problems.push(`DANGEROUS, not in the changelog: ${c.description}`);
  }
}

for (const c of breaking) console.log(`breaking:  ${c.type}: ${c.description}`);
for (const c of dangerous) console.log(`dangerous: ${c.type}: ${c.description}`);
if (problems.length === 0) {
  console.log(`schema check: ${breaking.length} breaking and ${dangerous.length} dangerous changes since ${released}, all recorded in ${changelog}`);
  process.exit(0);
}
console.log('');
for (const p of problems) console.log(p);
console.log(`
schema check failed: ${current} would break clients of ${released}.
Record each change in ${changelog} under "Unreleased", copying graphql-js' words, with why
and what clients should do, e.g.:
  - Dangerous: \`${(dangerous[0] ?? breaking[0]).description}\` — why, and what clients should do.`);
process.exit(1);
