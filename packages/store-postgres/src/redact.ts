/**
 * @module redact
 * Database URLs in logs and errors without their secrets: the password (and a
 * `password` query parameter) become `***`.
 */

/** `postgres://user:secret@host/db` → `postgres://user:***@host/db`. Other strings pass through unchanged. */
export function redactUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    // not a URL (a file path): still hide anything shaped like user:password@
    return url.replace(/\/\/([^/:@\s]*):[^@\s/]*@/g, "//$1:***@");
  }
  if (parsed.password) parsed.password = "***";
  for (const key of [...parsed.searchParams.keys()]) if (/^(password|pass|pwd|sslpassword)$/i.test(key)) parsed.searchParams.set(key, "***");
  return parsed.toString();
}

/** Replaces every occurrence of `url`'s password in `text` (an error message that quotes it). */
export function redactSecrets(text: string, url: string): string {
  let out = text.split(url).join(redactUrl(url));
  try {
    const password = decodeURIComponent(new URL(url).password);
    if (password) out = out.split(password).join("***");
  } catch {
    // not a URL: nothing else to hide
  }
  return out;
}

/** A `postgres://` or `postgresql://` URL (selects the Postgres store). */
export function isPostgresUrl(database: string): boolean {
  return /^postgres(ql)?:\/\//i.test(database);
}
