// The graphql-http audit (auditServer): the GraphQL-over-HTTP
// specification's conformance checks, run against AUDITLOG_GRAPHQL_URL.
// Prints one line per audit and exits 1 if any audit is an error (a failed
// MUST) or a warning (a failed SHOULD); notices (MAYs) are printed only.
import { auditServer } from 'graphql-http';

const url = process.env.AUDITLOG_GRAPHQL_URL;
if (!url) {
  console.error('AUDITLOG_GRAPHQL_URL is not set');
  process.exit(2);
}
const results = await auditServer({ url });
const counts = { ok: 0, notice: 0, warn: 0, error: 0 };
for (const r of results) {
  counts[r.status]++;
  let line = `${r.status.toUpperCase().padEnd(6)} ${r.id} ${r.name}`;
  if (r.status !== 'ok') {
    line += `\n       ${r.reason}`;
    if (r.response) {
      let body = '';
      try {
        body = await r.response.text();
      } catch {}
      line += `\n       HTTP ${r.response.status} ${r.response.headers.get('content-type') ?? ''} ${body.slice(0, 300)}`;
    }
  }
  console.log(line);
}
console.log(`graphql-http audit: ${counts.ok} ok, ${counts.notice} notices, ${counts.warn} warnings, ${counts.error} errors`);
process.exit(counts.error + counts.warn > 0 ? 1 : 0);
