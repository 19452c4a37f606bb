// Parse and validate an AsyncAPI document with the official parser; print diagnostics as JSON, exit 1 on errors.
import { readFileSync } from 'node:fs';
import { Parser } from '@asyncapi/parser';

const path = process.argv[2];
const parser = new Parser();
const { document, diagnostics } = await parser.parse(readFileSync(path, 'utf8'));
// Severity 0 = error, 1 = warning (Spectral levels).
const errors = diagnostics.filter((d) => d.severity === 0);
console.log(JSON.stringify({
  version: document ? document.version() : null,
  channels: document ? document.channels().all().map((c) => c.address()) : [],
  errors: errors.map((d) => `${d.path.join('.')}: ${d.message}`),
  warnings: diagnostics.filter((d) => d.severity === 1).map((d) => `${d.path.join('.')}: ${d.message}`),
}));
process.exit(errors.length === 0 && document ? 0 : 1);
