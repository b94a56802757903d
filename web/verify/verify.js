// Aurora's browser verifier: checks a proof bundle (docs/PROVENANCE.md §5)
// against a trust-policy file (§9) entirely in this page, with the same
// checks, in the same order, as `aurora-verify --policy` (provenance.VerifyBundle,
// provenance/trust, provenance/tsa). Plain JavaScript, no dependencies, no
// build step; WebCrypto does the signatures and hashes, everything else
// (dag-cbor, signed notes, RFC 6962, DER, CMS, X.509 paths) is written out
// here. It makes no network requests.
(function () {
  'use strict';

  // Limits of provenance/limits.go, provenance/trust and provenance/tsa.
  const L = Object.freeze({
    bundle: 256 << 10, leaf: 64 << 10, tokens: 4, token: 8 << 10, proofHashes: 64, note: 16 << 10,
    noteSigs: 16, keyName: 256, origin: 256, extLines: 8, extLine: 256, treeSize: 1n << 48n, cidLen: 128,
    clockSkewSeconds: 300, cosigTimeMax: 1n << 40n, sigB64: 256,
    policy: 1 << 20, policyLine: 16 << 10, logs: 256, witnesses: 256, groups: 256, tsaRoots: 32, url: 2048,
    tsaMin: 4, tokenParse: 64 << 10, tokenCerts: 16, pem: 1 << 20, pemCerts: 64, chainSigChecks: 100,
  });

  const enc = new TextEncoder();
  const utf8 = new TextDecoder('utf-8', { fatal: true });

  // ---------------------------------------------------------------- bytes

  function concat(...parts) {
    let n = 0;
    for (const p of parts) n += p.length;
    const out = new Uint8Array(n);
    let o = 0;
    for (const p of parts) { out.set(p, o); o += p.length; }
    return out;
  }

  function equal(a, b) {
    if (a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }

  function hex(b) {
    let s = '';
    for (const x of b) s += x.toString(16).padStart(2, '0');
    return s;
  }

  function hex8(n) { return n.toString(16).padStart(8, '0'); }

  function b64encode(b) {
    let s = '';
    for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode.apply(null, b.subarray(i, i + 0x8000));
    return btoa(s);
  }

  // b64decode decodes standard base64 with padding. strict also requires
  // the canonical form (zero padding bits), as Go's Strict() decoder and the
  // re-encoding checks of provenance do.
  function b64decode(s, strict) {
    if (s.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) throw new Error('not base64');
    let bin;
    try { bin = atob(s); } catch (e) { throw new Error('not base64'); }
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    if (strict && b64encode(out) !== s) throw new Error('not canonical base64');
    return out;
  }

  function b64canonical(s) { return b64decode(s, true); }

  function u32(b, o) { return ((b[o] << 24) >>> 0) + (b[o + 1] << 16) + (b[o + 2] << 8) + b[o + 3]; }

  function truncate(s, n) { return s.length > n ? s.slice(0, n) + '…' : s; }

  // ---------------------------------------------------------------- crypto

  const subtle = () => {
    if (!globalThis.crypto || !globalThis.crypto.subtle) {
      throw new Error('WebCrypto is unavailable: load this page over https, from localhost or from a file');
    }
    return globalThis.crypto.subtle;
  };

  async function digest(alg, data) { return new Uint8Array(await subtle().digest(alg, data)); }
  const sha256 = (d) => digest('SHA-256', d);

  // keyHash is a C2SP signed-note key ID: SHA-256(name || 0x0A || alg || key)[:4].
  async function keyHash(name, alg, key) {
    const h = await sha256(concat(enc.encode(name), Uint8Array.of(0x0a, alg), key));
    return u32(h, 0);
  }

  async function ed25519Verify(pub, msg, sig) {
    const k = await subtle().importKey('raw', pub, { name: 'Ed25519' }, false, ['verify']);
    return subtle().verify({ name: 'Ed25519' }, k, sig, msg);
  }

  // ------------------------------------------------------------- dag-cbor

  // cborDecode decodes canonical dag-cbor strictly: shortest integer and
  // length forms, definite lengths, text map keys sorted length-first then
  // bytewise without duplicates, valid UTF-8, no floats or undefined, tag 42
  // (links, bytes starting with 0x00) only where tags are allowed, no
  // trailing bytes. Anything it accepts re-encodes to the same bytes, which
  // is what Go's decode-then-re-encode check establishes.
  function cborDecode(b, o) {
    let pos = 0;
    let depth = 0;
    const need = (n) => { if (pos + n > b.length) throw new Error('truncated CBOR'); };
    function arg(ai) {
      if (ai < 24) return ai;
      if (ai === 24) { need(1); const v = b[pos++]; if (v < 24) throw new Error('non-canonical CBOR integer'); return v; }
      if (ai === 25) { need(2); const v = (b[pos] << 8) | b[pos + 1]; pos += 2; if (v < 0x100) throw new Error('non-canonical CBOR integer'); return v; }
      if (ai === 26) { need(4); const v = u32(b, pos); pos += 4; if (v < 0x10000) throw new Error('non-canonical CBOR integer'); return v; }
      if (ai === 27) {
        need(8);
        const v = (BigInt(u32(b, pos)) << 32n) | BigInt(u32(b, pos + 4));
        pos += 8;
        if (v < 0x100000000n) throw new Error('non-canonical CBOR integer');
        return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
      }
      if (ai === 31) throw new Error('indefinite-length CBOR');
      throw new Error('reserved CBOR additional information');
    }
    const count = (v) => { if (typeof v !== 'number') throw new Error('CBOR length too large'); return v; };
    function item() {
      need(1);
      const ib = b[pos++];
      const major = ib >> 5;
      const ai = ib & 31;
      if (major === 7) {
        if (ai === 20) return false;
        if (ai === 21) return true;
        if (ai === 22) return null;
        throw new Error('CBOR floats, undefined and simple values are not used in these records');
      }
      const v = arg(ai);
      switch (major) {
        case 0: return v;
        case 1: return typeof v === 'bigint' ? -1n - v : (v < Number.MAX_SAFE_INTEGER ? -1 - v : -1n - BigInt(v));
        case 2: { const n = count(v); need(n); const out = b.subarray(pos, pos + n); pos += n; return out; }
        case 3: {
          const n = count(v); need(n);
          let s;
          try { s = utf8.decode(b.subarray(pos, pos + n)); } catch (e) { throw new Error('invalid UTF-8 in a CBOR text string'); }
          pos += n;
          return s;
        }
        case 4: {
          const n = count(v);
          if (n > o.maxArray) throw new Error(`CBOR array of ${n} elements, limit ${o.maxArray}`);
          if (++depth > o.maxDepth) throw new Error('CBOR nested too deeply');
          const out = [];
          for (let i = 0; i < n; i++) out.push(item());
          depth--;
          return out;
        }
        case 5: {
          const n = count(v);
          if (n > o.maxMap) throw new Error(`CBOR map of ${n} pairs, limit ${o.maxMap}`);
          if (++depth > o.maxDepth) throw new Error('CBOR nested too deeply');
          const out = new Map();
          let prev = null;
          for (let i = 0; i < n; i++) {
            need(1);
            if (b[pos] >> 5 !== 3) throw new Error('CBOR map key is not a text string');
            const ks = pos;
            const k = item();
            const kb = b.subarray(ks, pos);
            if (prev !== null && compareKeys(prev, kb) >= 0) throw new Error(`CBOR map keys not in canonical order (at ${JSON.stringify(truncate(k, 32))})`);
            prev = kb;
            out.set(k, item());
          }
          depth--;
          return out;
        }
        case 6: {
          if (!o.tags) throw new Error('CBOR tags are not allowed here');
          if (v !== 42) throw new Error(`CBOR tag ${v} (only 42, links, is allowed)`);
          need(1);
          if (b[pos] >> 5 !== 2) throw new Error('CBOR tag 42 does not hold a byte string');
          const raw = item();
          if (raw.length < 2 || raw[0] !== 0) throw new Error('link bytes lack the 0x00 multibase prefix');
          return { link: parseCID(raw.subarray(1)) };
        }
      }
      throw new Error('unreachable');
    }
    const v = item();
    if (pos !== b.length) throw new Error(`${b.length - pos} trailing bytes after the CBOR value`);
    return v;
  }

  // compareKeys orders encoded map keys length-first, then bytewise.
  function compareKeys(a, b) {
    if (a.length !== b.length) return a.length - b.length;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] - b[i];
    return 0;
  }

  const isMap = (v) => v instanceof Map;
  const isBytes = (v) => v instanceof Uint8Array;
  const isInt = (v) => typeof v === 'number' && Number.isInteger(v) || typeof v === 'bigint';
  const isLink = (v) => v !== null && typeof v === 'object' && 'link' in v;
  const INT64_MIN = -(1n << 63n);
  const INT64_MAX = (1n << 63n) - 1n;
  const int64 = (v) => isInt(v) && BigInt(v) >= INT64_MIN && BigInt(v) <= INT64_MAX;

  // ------------------------------------------------------------------ CIDs

  // uvarint reads a minimal unsigned varint (multiformats).
  function uvarint(b, pos) {
    let v = 0;
    let mul = 1;
    for (let i = 0; i < 9; i++) {
      if (pos + i >= b.length) throw new Error('truncated varint');
      const c = b[pos + i];
      v += (c & 0x7f) * mul;
      mul *= 128;
      if ((c & 0x80) === 0) {
        if (i > 0 && c === 0) throw new Error('non-minimal varint');
        if (v > Number.MAX_SAFE_INTEGER) throw new Error('varint too large');
        return [v, pos + i + 1];
      }
    }
    throw new Error('varint too long');
  }

  // parseCID checks a binary CID as go-cid's Cast does: CIDv0 (a bare
  // sha2-256 multihash) or CIDv1 (version, codec, multihash), nothing after.
  function parseCID(raw) {
    if (raw.length === 34 && raw[0] === 0x12 && raw[1] === 0x20) return { version: 0, bytes: raw };
    let [ver, p] = uvarint(raw, 0);
    if (ver !== 1) throw new Error(`CID version ${ver}, want 1`);
    let codec, code, len;
    [codec, p] = uvarint(raw, p);
    [code, p] = uvarint(raw, p);
    [len, p] = uvarint(raw, p);
    if (p + len !== raw.length) throw new Error('CID multihash length does not match its digest');
    return { version: 1, codec, code, bytes: raw };
  }

  const B32 = 'abcdefghijklmnopqrstuvwxyz234567';
  const B58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';

  function unbase32(s) {
    const out = [];
    let bits = 0;
    let v = 0;
    for (const c of s) {
      const i = B32.indexOf(c);
      if (i < 0) throw new Error('bad base32');
      v = ((v << 5) | i) & 0xffff; bits += 5;
      if (bits >= 8) { out.push((v >>> (bits - 8)) & 0xff); bits -= 8; }
    }
    return Uint8Array.from(out);
  }

  function unbase58(s) {
    if (s === '') throw new Error('empty base58');
    let n = 0n;
    for (const c of s) {
      const i = B58.indexOf(c);
      if (i < 0) throw new Error('bad base58');
      n = n * 58n + BigInt(i);
    }
    const out = [];
    while (n > 0n) { out.unshift(Number(n & 0xffn)); n >>= 8n; }
    for (const c of s) { if (c !== '1') break; out.unshift(0); }
    return Uint8Array.from(out);
  }

  // parseRootCID parses the text CID of the bundle's epoch root (go-cid's
  // Decode): CIDv0 "Qm…", or a multibase prefix b/B (base32), z (base58btc),
  // f/F (hex), m (base64), u (base64url) and a CIDv1.
  function parseRootCID(s) {
    if (s.length > L.cidLen) throw new Error(`root CID is ${s.length} bytes, limit ${L.cidLen}`);
    if (s.length < 2) throw new Error('root CID too short');
    if (s.length === 46 && s.startsWith('Qm')) return parseCID(unbase58(s));
    const body = s.slice(1);
    let raw;
    switch (s[0]) {
      case 'b': raw = unbase32(body); break;
      case 'B': raw = unbase32(body.toLowerCase()); break;
      case 'z': raw = unbase58(body); break;
      case 'f': case 'F':
        if (!/^[0-9a-fA-F]*$/.test(body) || body.length % 2) throw new Error('bad hex');
        raw = Uint8Array.from(body.match(/../g) || [], (h) => parseInt(h, 16)); break;
      case 'm': case 'u': {
        let t = s[0] === 'u' ? body.replace(/-/g, '+').replace(/_/g, '/') : body;
        while (t.length % 4) t += '=';
        raw = b64decode(t, false); break;
      }
      default: throw new Error(`root CID: multibase prefix ${JSON.stringify(s[0])} is not one this page reads`);
    }
    return parseCID(raw);
  }

  // ------------------------------------------------------------ the record

  const JOB_STATUSES = ['accepted', 'launching', 'running', 'succeeded', 'failed', 'terminated', 'forwarded', 'canceled'];
  const DID_PREFIX = 'did:key:z';

  class FieldError extends Error {
    constructor(kind, field, rule) { super(field ? `${kind}.${field}: ${rule}` : `${kind}: ${rule}`); }
  }

  function didKey(s) {
    if (typeof s !== 'string') throw new Error('not a string');
    if (enc.encode(s).length > 64) throw new Error(`bad DID: ${enc.encode(s).length} bytes, limit 64`);
    if (!s.startsWith(DID_PREFIX)) throw new Error(`bad DID: missing ${JSON.stringify(DID_PREFIX)} prefix`);
    let raw;
    try { raw = unbase58(s.slice(DID_PREFIX.length)); } catch (e) { throw new Error('bad DID: bad base58btc'); }
    if (raw.length !== 34 || raw[0] !== 0xed || raw[1] !== 0x01) throw new Error('bad DID: want multicodec 0xed01 and a 32-byte key');
    return raw.subarray(2);
  }

  function shortDID(s) { return s.length <= DID_PREFIX.length - 1 + 10 ? s : 'did:key:…' + s.slice(-8); }

  // checkFields requires a map with exactly the required keys (and any of
  // the optional ones), as Go's strict decoding into a struct plus the
  // canonical re-encoding does.
  function checkFields(kind, path, m, required, optional) {
    if (!isMap(m)) throw new FieldError(kind, path, 'not a map');
    for (const k of m.keys()) {
      if (!required.includes(k) && !optional.includes(k)) throw new FieldError(kind, path ? `${path}.${k}` : k, `unknown field ${JSON.stringify(k)}`);
    }
    for (const k of required) if (!m.has(k)) throw new FieldError(kind, path ? `${path}.${k}` : k, 'missing field');
  }

  function textField(kind, field, s, min, max) {
    if (typeof s !== 'string') throw new FieldError(kind, field, 'not a text string');
    const n = enc.encode(s).length;
    if (n < min) throw new FieldError(kind, field, min === 1 ? 'must not be empty' : `shorter than ${min} bytes`);
    if (n > max) throw new FieldError(kind, field, `${n} bytes, limit ${max}`);
    for (const ch of s) {
      const c = ch.codePointAt(0);
      if (c < 0x20 || c === 0x7f) throw new FieldError(kind, field, 'contains a control character');
    }
  }

  function intField(kind, field, v, lo, hi) {
    if (!int64(v)) throw new FieldError(kind, field, 'not a 64-bit integer');
    if (BigInt(v) < BigInt(lo) || BigInt(v) > BigInt(hi)) throw new FieldError(kind, field, `${v} out of range [${lo}, ${hi}]`);
  }

  function nameField(kind, field, s) {
    if (typeof s !== 'string') throw new FieldError(kind, field, 'not a text string');
    if (s === '') throw new FieldError(kind, field, 'must not be empty');
    if (s.length > 64) throw new FieldError(kind, field, `${s.length} bytes, limit 64`);
    if (!/^[a-z0-9][a-z0-9._-]*$/.test(s)) throw new FieldError(kind, field, `${JSON.stringify(s)} is not a lowercase name ([a-z0-9][a-z0-9._-]*)`);
  }

  // checkJob applies treaty.JobRecord's schema and Validate.
  function checkJob(j) {
    const K = 'job';
    checkFields(K, '', j, ['v', 'ack', 'job', 'lease', 'order', 'price', 'route', 'client', 'operator', 'transitions'], ['result']);
    if (!int64(j.get('v'))) throw new FieldError(K, 'v', 'not an integer');
    if (j.get('v') !== 1) throw new FieldError(K, 'v', `unsupported version ${j.get('v')}, want 1`);
    textField(K, 'job', j.get('job'), 1, 128);
    for (const f of ['order', 'ack']) if (!isLink(j.get(f))) throw new FieldError(K, f, 'not a link');
    for (const f of ['operator', 'client']) {
      try { didKey(j.get(f)); } catch (e) { throw new FieldError(K, f, e.message); }
    }
    const r = j.get('route');
    checkFields(K, 'route', r, ['kind', 'name'], ['treaty']);
    for (const f of ['kind', 'name']) if (typeof r.get(f) !== 'string') throw new FieldError(K, 'route.' + f, 'not a text string');
    if (r.has('treaty') && !isLink(r.get('treaty'))) throw new FieldError(K, 'route.treaty', 'not a link');
    if (r.get('kind') === 'provider') {
      nameField(K, 'route.name', r.get('name'));
    } else if (r.get('kind') === 'peer') {
      try { didKey(r.get('name')); } catch (e) { throw new FieldError(K, 'route.name', e.message); }
      if (!r.has('treaty')) throw new FieldError(K, 'route.treaty', 'a peer route names its treaty');
    } else {
      throw new FieldError(K, 'route.kind', `${JSON.stringify(r.get('kind'))} is not "provider" or "peer"`);
    }
    intField(K, 'price', j.get('price'), 0, 1000000000000);
    textField(K, 'lease', j.get('lease'), 0, 256);
    const ts = j.get('transitions');
    if (!Array.isArray(ts)) throw new FieldError(K, 'transitions', 'not a list');
    if (ts.length === 0 || ts.length > 32) throw new FieldError(K, 'transitions', `${ts.length} transitions, want 1 to 32`);
    let prev = null;
    ts.forEach((t, i) => {
      const f = `transitions[${i}]`;
      checkFields(K, f, t, ['at', 'detail', 'status'], []);
      if (!int64(t.get('at'))) throw new FieldError(K, f + '.at', 'not a 64-bit integer');
      if (typeof t.get('status') !== 'string') throw new FieldError(K, f + '.status', 'not a text string');
      if (!JOB_STATUSES.includes(t.get('status'))) throw new FieldError(K, f + '.status', `${JSON.stringify(t.get('status'))} is not a job status`);
      textField(K, f + '.detail', t.get('detail'), 0, 512);
      if (prev !== null && BigInt(t.get('at')) < prev) throw new FieldError(K, f + '.at', 'goes back in time');
      prev = BigInt(t.get('at'));
    });
    if (j.has('result')) {
      const res = j.get('result');
      // omitempty: an empty result is written by leaving the key out.
      if (!isBytes(res) || res.length === 0) throw new FieldError(K, 'result', 'not a non-empty byte string');
      if (res.length > 64) throw new FieldError(K, 'result', `${res.length} bytes, limit 64`);
    }
    return j;
  }

  // checkRecord is the record link: the leaf is a LogEntry holding a job.
  function checkRecord(leaf) {
    if (leaf.length > L.leaf) throw new Error(`record is ${leaf.length} bytes, limit ${L.leaf}`);
    const e = cborDecode(leaf, { tags: true, maxDepth: 16, maxArray: 256, maxMap: 32 });
    checkFields('entry', '', e, [], ['job', 'tsa', 'anchor']);
    if (e.size !== 1) throw new FieldError('entry', '', `${e.size} members set, want exactly one of job, anchor, tsa, cancel`);
    if (!e.has('job')) throw new Error(`leaf is not a job record entry (it is a ${[...e.keys()][0]} entry)`);
    const j = checkJob(e.get('job'));
    const ts = j.get('transitions');
    return {
      job: j.get('job'),
      detail: `job ${j.get('job')} by ${shortDID(j.get('operator'))} for ${shortDID(j.get('client'))}, ${ts.length} transitions, last ${ts[ts.length - 1].get('status')}`,
    };
  }

  // ------------------------------------------------------------ the bundle

  class ParseError extends Error {
    constructor(field, rule) { super(`${field}: ${rule}`); this.field = field; }
  }

  // parseDecimal: ASCII decimal without sign or leading zeros, at most 2^48.
  function parseDecimal(s) {
    if (s === '') throw new Error('empty');
    if (s.length > 1 && s[0] === '0') throw new Error(`${JSON.stringify(truncate(s, 40))} has a leading zero`);
    if (!/^[0-9]+$/.test(s)) throw new Error(`${JSON.stringify(truncate(s, 40))} is not a decimal number`);
    const n = BigInt(s);
    if (n > L.treeSize) throw new Error(`${JSON.stringify(truncate(s, 40))} exceeds ${L.treeSize}`);
    return n;
  }

  function decodeHash(s) {
    if (s.length !== 44) throw new Error(`${s.length} base64 characters, want 44 (32 bytes)`);
    let h;
    try { h = b64canonical(s); } catch (e) { throw new Error('not canonical base64 of 32 bytes'); }
    if (h.length !== 32) throw new Error('not canonical base64 of 32 bytes');
    return h;
  }

  const SPACE = /[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/u;

  // validKeyName: a signed-note key name, as provenance and x/mod/sumdb/note
  // require it.
  function validKeyName(name) {
    return name !== '' && enc.encode(name).length <= L.keyName && !SPACE.test(name) && !name.includes('+');
  }

  // parseNote parses a C2SP signed note strictly (provenance's parseNote).
  function parseNote(bytes) {
    if (bytes.length > L.note) throw new ParseError('note', `${bytes.length} bytes, limit ${L.note}`);
    let s;
    try { s = utf8.decode(bytes); } catch (e) { throw new ParseError('note', 'invalid UTF-8'); }
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c < 0x20 && c !== 0x0a || c === 0x7f) throw new ParseError('note', `control character at character ${i}`);
    }
    const split = s.lastIndexOf('\n\n');
    if (split < 0) throw new ParseError('note', 'no blank line before the signatures');
    const text = s.slice(0, split + 1);
    let sigs = s.slice(split + 2);
    if (sigs === '') throw new ParseError('signatures', 'none');
    if (!sigs.endsWith('\n')) throw new ParseError('signatures', 'last line does not end in a newline');
    const out = { text, textBytes: enc.encode(text), sigs: [] };
    const seen = new Set();
    for (let i = 0; sigs !== ''; i++) {
      if (i >= L.noteSigs) throw new ParseError('signatures', `more than ${L.noteSigs}`);
      const j = sigs.indexOf('\n');
      const line = sigs.slice(0, j);
      sigs = sigs.slice(j + 1);
      let sig;
      try { sig = parseSigLine(line); } catch (e) { throw new ParseError(`signature[${i}]`, e.message); }
      const k = sig.name + '\u0000' + sig.keyHash;
      if (seen.has(k)) throw new ParseError(`signature[${i}]`, `second signature by key ${sig.name}+${hex8(sig.keyHash)}`);
      seen.add(k);
      out.sigs.push(sig);
    }
    return out;
  }

  function parseSigLine(line) {
    if (!line.startsWith('\u2014 ')) throw new Error('does not start with an em dash and a space');
    const rest = line.slice(2);
    const sp = rest.indexOf(' ');
    if (sp < 0) throw new Error('no space between key name and signature');
    const name = rest.slice(0, sp);
    const b64 = rest.slice(sp + 1);
    if (!validKeyName(name)) throw new Error(`invalid key name ${JSON.stringify(truncate(name, 40))}`);
    if (b64.length > L.sigB64) throw new Error(`signature is ${b64.length} base64 bytes, limit ${L.sigB64}`);
    let raw;
    try { raw = b64canonical(b64); } catch (e) { throw new Error('signature is not canonical base64'); }
    if (raw.length < 5) throw new Error(`signature is ${raw.length} bytes, want a 4-byte key ID and a signature`);
    return { name, keyHash: u32(raw, 0), sig: raw.subarray(4) };
  }

  function checkOrigin(origin) {
    if (origin === '') throw new Error('origin: empty');
    if (origin.length > L.origin) throw new Error(`origin: ${origin.length} bytes, limit ${L.origin}`);
    for (let i = 0; i < origin.length; i++) {
      const c = origin.charCodeAt(i);
      if (c <= 0x20 || c >= 0x7f || c === 0x2b) throw new Error(`origin: byte ${i} is not printable ASCII other than space and '+'`);
    }
  }

  // parseCheckpointBody parses tlog-checkpoint text strictly.
  function parseCheckpointBody(text) {
    if (!text.endsWith('\n')) throw new Error('checkpoint: body does not end in a newline');
    const lines = text.slice(0, -1).split('\n');
    if (lines.length < 3) throw new Error(`checkpoint: ${lines.length} lines, want origin, size and root`);
    checkOrigin(lines[0]);
    let size, root;
    try { size = parseDecimal(lines[1]); } catch (e) { throw new Error('checkpoint: size: ' + e.message); }
    try { root = decodeHash(lines[2]); } catch (e) { throw new Error('checkpoint: root: ' + e.message); }
    const ext = lines.slice(3);
    if (ext.length > L.extLines) throw new Error(`checkpoint: extensions: ${ext.length} lines, limit ${L.extLines}`);
    ext.forEach((e, i) => {
      if (e === '') throw new Error(`checkpoint: extension[${i}]: empty line`);
      if (e.length > L.extLine) throw new Error(`checkpoint: extension[${i}]: ${e.length} bytes, limit ${L.extLine}`);
      if (!/^[\x20-\x7e]*$/.test(e)) throw new Error(`checkpoint: extension[${i}]: not printable ASCII`);
    });
    return { origin: lines[0], size, root };
  }

  // parseBundle parses a bundle's text form as provenance.ParseBundle does.
  function parseBundle(data) {
    if (data.length > L.bundle) throw new ParseError('bundle', `${data.length} bytes, limit ${L.bundle}`);
    let pos = 0;
    const next = (field) => {
      const j = data.indexOf(0x0a, pos);
      if (j < 0) throw new ParseError(field, 'missing (no newline)');
      let line;
      try { line = utf8.decode(data.subarray(pos, j)); } catch (e) { throw new ParseError(field, 'invalid UTF-8'); }
      pos = j + 1;
      return line;
    };
    if (next('header') !== 'c2sp.org/tlog-proof@v1') throw new ParseError('header', 'want "c2sp.org/tlog-proof@v1"');
    let line = next('extra');
    if (!line.startsWith('extra ')) throw new ParseError('extra', 'missing: an Aurora bundle carries the leaf in the extra line');
    let raw;
    try { raw = b64canonical(line.slice(6)); } catch (e) { throw new ParseError('extra', 'not canonical base64'); }
    let ex;
    try { ex = cborDecode(raw, { tags: false, maxDepth: 4, maxArray: 64, maxMap: 32 }); } catch (e) { throw new ParseError('extra', 'not the extra dag-cbor: ' + e.message); }
    try { checkFields('extra', '', ex, ['v', 'tsa', 'leaf', 'root'], []); } catch (e) { throw new ParseError('extra', 'not canonical dag-cbor (missing field, key order or integer form): ' + e.message); }
    if (!isInt(ex.get('v')) || !isBytes(ex.get('leaf')) || typeof ex.get('root') !== 'string' ||
        !Array.isArray(ex.get('tsa')) || !ex.get('tsa').every(isBytes)) {
      throw new ParseError('extra', 'not the extra dag-cbor: a field has the wrong type');
    }
    if (!int64(ex.get('v'))) throw new ParseError('extra', 'not the extra dag-cbor: v overflows');
    if (ex.get('v') !== 1) throw new ParseError('extra.v', `version ${ex.get('v')}, want 1`);
    const b = { leaf: ex.get('leaf'), tsa: ex.get('tsa'), root: ex.get('root'), proof: [] };
    line = next('index');
    if (!line.startsWith('index ')) throw new ParseError('index', 'want "index <n>"');
    try { b.index = parseDecimal(line.slice(6)); } catch (e) { throw new ParseError('index', e.message); }
    for (let i = 0; ; i++) {
      line = next('proof');
      if (line === '') break;
      if (i >= L.proofHashes) throw new ParseError('proof', `more than ${L.proofHashes} hashes`);
      try { b.proof.push(decodeHash(line)); } catch (e) { throw new ParseError(`proof[${i}]`, e.message); }
    }
    b.checkpoint = data.subarray(pos);
    if (b.leaf.length === 0 || b.leaf.length > L.leaf) throw new ParseError('extra.leaf', `${b.leaf.length} bytes, want 1 to ${L.leaf}`);
    if (b.tsa.length > L.tokens) throw new ParseError('extra.tsa', `${b.tsa.length} tokens, limit ${L.tokens}`);
    b.tsa.forEach((t, i) => {
      if (t.length === 0 || t.length > L.token) throw new ParseError(`extra.tsa[${i}]`, `${t.length} bytes, want 1 to ${L.token}`);
    });
    if (b.root !== '') {
      try { parseRootCID(b.root); } catch (e) { throw new ParseError('extra.root', e.message); }
    }
    try { b.note = parseNote(b.checkpoint); } catch (e) { throw new ParseError('checkpoint', e.message); }
    return b;
  }

  // ---------------------------------------------------------- RFC 6962

  async function hashChildren(l, r) { return sha256(concat(Uint8Array.of(1), l, r)); }

  function bitLen(x) { return x === 0n ? 0 : x.toString(2).length; }
  function onesCount(x) { let n = 0; for (const c of x.toString(2)) if (c === '1') n++; return n; }

  // verifyInclusion checks an RFC 6962 §2.1.1 audit path, as
  // transparency-dev/merkle's proof.VerifyInclusion does.
  async function verifyInclusion(index, size, leafHash, proof, root) {
    if (index >= size) throw new Error(`index ${index} is beyond size ${size}`);
    const inner = bitLen(index ^ (size - 1n));
    const border = onesCount(index >> BigInt(inner));
    if (proof.length !== inner + border) throw new Error(`inclusion proof ${index}/${size}: wrong proof size ${proof.length}, want ${inner + border}`);
    let h = leafHash;
    for (let i = 0; i < inner; i++) {
      h = ((index >> BigInt(i)) & 1n) === 0n ? await hashChildren(h, proof[i]) : await hashChildren(proof[i], h);
    }
    for (let i = inner; i < proof.length; i++) h = await hashChildren(proof[i], h);
    if (!equal(h, root)) throw new Error(`inclusion proof ${index}/${size}: calculated root ${hex(h)} does not match the checkpoint's root ${hex(root)}`);
  }

  // --------------------------------------------------------------- DER

  class DerError extends Error {}

  // tlv reads one DER value at pos (strict: minimal lengths, no indefinite
  // form), within end.
  function tlv(b, pos, end) {
    if (pos + 2 > end) throw new DerError('truncated DER');
    const t0 = b[pos];
    let p = pos + 1;
    let num = t0 & 0x1f;
    if (num === 0x1f) {
      num = 0;
      for (let first = true; ; first = false) {
        if (p >= end) throw new DerError('truncated DER tag');
        const c = b[p++];
        if (first && c === 0x80) throw new DerError('non-minimal DER tag');
        num = num * 128 + (c & 0x7f);
        if (num > 0xffffff) throw new DerError('DER tag too large');
        if (!(c & 0x80)) break;
      }
      if (num < 0x1f) throw new DerError('non-minimal DER tag');
    }
    if (p >= end) throw new DerError('truncated DER length');
    let len = b[p++];
    if (len & 0x80) {
      const n = len & 0x7f;
      if (n === 0) throw new DerError('indefinite-length DER');
      if (n > 4) throw new DerError('DER length too large');
      if (p + n > end) throw new DerError('truncated DER length');
      if (b[p] === 0) throw new DerError('non-minimal DER length');
      len = 0;
      for (let i = 0; i < n; i++) len = len * 256 + b[p++];
      if (len < 0x80) throw new DerError('non-minimal DER length');
    }
    if (p + len > end) throw new DerError('truncated DER value');
    return { b, t: t0, cls: t0 >> 6, cons: (t0 & 0x20) !== 0, num, start: pos, cs: p, end: p + len };
  }

  const body = (v) => v.b.subarray(v.cs, v.end);
  const full = (v) => v.b.subarray(v.start, v.end);

  function derExact(b) {
    const v = tlv(b, 0, b.length);
    if (v.end !== b.length) throw new DerError(`${b.length - v.end} trailing bytes`);
    return v;
  }

  function kids(v) {
    if (!v.cons) throw new DerError('not a constructed DER value');
    const out = [];
    for (let p = v.cs; p < v.end;) { const c = tlv(v.b, p, v.end); out.push(c); p = c.end; }
    return out;
  }

  // seq expects a constructed value with tag t and returns a reader over
  // its elements.
  function reader(v, t, what) {
    if (v.t !== t) throw new DerError(`${what}: unexpected tag 0x${v.t.toString(16)}`);
    const els = kids(v);
    let i = 0;
    return {
      next(tag, w) {
        if (i >= els.length) throw new DerError(`${what}: missing ${w}`);
        if (tag !== undefined && els[i].t !== tag) throw new DerError(`${what}: ${w}: unexpected tag 0x${els[i].t.toString(16)}`);
        return els[i++];
      },
      opt(tag) { if (i < els.length && els[i].t === tag) return els[i++]; return null; },
      peek() { return i < els.length ? els[i] : null; },
      done() { if (i !== els.length) throw new DerError(`${what}: ${els.length - i} unexpected trailing elements`); },
    };
  }

  const SEQ = 0x30, SET = 0x31, INT = 0x02, OID = 0x06, OCTETS = 0x04, BITS = 0x03, BOOL = 0x01, NULL = 0x05;

  function derInt(v) {
    if (v.t !== INT) throw new DerError('not an INTEGER');
    const x = body(v);
    if (x.length === 0) throw new DerError('empty INTEGER');
    if (x.length > 1 && (x[0] === 0 && x[1] < 0x80 || x[0] === 0xff && x[1] >= 0x80)) throw new DerError('non-minimal INTEGER');
    return x;
  }

  function derSmallInt(v) {
    const x = derInt(v);
    if (x.length > 6) throw new DerError('INTEGER too large');
    let n = x[0] & 0x80 ? -1 : 0;
    for (const c of x) n = n * 256 + c;
    return n;
  }

  function derBool(v) {
    if (v.t !== BOOL || v.end - v.cs !== 1) throw new DerError('not a BOOLEAN');
    const c = v.b[v.cs];
    if (c !== 0 && c !== 0xff) throw new DerError('invalid BOOLEAN');
    return c === 0xff;
  }

  function derOID(v) {
    if (v.t !== OID) throw new DerError('not an OBJECT IDENTIFIER');
    const x = body(v);
    if (x.length === 0) throw new DerError('empty OBJECT IDENTIFIER');
    const arcs = [];
    let n = 0;
    let start = true;
    for (const c of x) {
      if (start && c === 0x80) throw new DerError('non-minimal OBJECT IDENTIFIER');
      n = n * 128 + (c & 0x7f);
      start = false;
      if (n > Number.MAX_SAFE_INTEGER / 128) throw new DerError('OBJECT IDENTIFIER arc too large');
      if (!(c & 0x80)) { arcs.push(n); n = 0; start = true; }
    }
    if (!start) throw new DerError('truncated OBJECT IDENTIFIER');
    const first = arcs[0] < 40 ? [0, arcs[0]] : arcs[0] < 80 ? [1, arcs[0] - 40] : [2, arcs[0] - 80];
    return [...first, ...arcs.slice(1)].join('.');
  }

  function derOctets(v) { if (v.t !== OCTETS) throw new DerError('not an OCTET STRING'); return body(v); }

  function derBits(v) {
    if (v.t !== BITS) throw new DerError('not a BIT STRING');
    const x = body(v);
    if (x.length === 0) throw new DerError('empty BIT STRING');
    const pad = x[0];
    if (pad > 7 || x.length === 1 && pad > 0 || x.length > 1 && (x[x.length - 1] & ((1 << pad) - 1)) !== 0) throw new DerError('invalid BIT STRING padding');
    return { bytes: x.subarray(1), bitLength: (x.length - 1) * 8 - pad };
  }

  function algId(v, what) {
    const r = reader(v, SEQ, what);
    const oid = derOID(r.next(OID, 'algorithm'));
    const params = r.peek();
    if (params) r.next();
    r.done();
    return { oid, params, raw: full(v) };
  }

  // hashParamsOK: absent or NULL parameters (RFC 5754).
  const hashParamsOK = (a) => a.params === null || a.params.t === NULL && a.params.end === a.params.cs;

  function derTime(v) {
    const s = String.fromCharCode.apply(null, body(v));
    let m, y;
    if (v.t === 0x17) {
      m = /^(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)?(Z|[+-]\d{4})$/.exec(s);
      if (!m) throw new DerError('bad UTCTime');
      y = +m[1] < 50 ? 2000 + +m[1] : 1900 + +m[1];
      return toDate(y, m[2], m[3], m[4], m[5], m[6] || '00', '', m[7]);
    }
    if (v.t === 0x18) {
      m = /^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\.\d*[1-9])?(Z|[+-]\d{4})$/.exec(s);
      if (!m) throw new DerError('bad GeneralizedTime');
      return toDate(+m[1], m[2], m[3], m[4], m[5], m[6], m[7] || '', m[8]);
    }
    throw new DerError('not a UTCTime or GeneralizedTime');
  }

  function toDate(y, mo, d, h, mi, s, frac, zone) {
    const ms = Date.UTC(y, +mo - 1, +d, +h, +mi, +s);
    const dt = new Date(ms);
    if (dt.getUTCMonth() !== +mo - 1 || dt.getUTCDate() !== +d || +h > 23 || +mi > 59 || +s > 59) throw new DerError('invalid time');
    let off = 0;
    if (zone !== 'Z') off = (zone[0] === '-' ? -1 : 1) * (+zone.slice(1, 3) * 60 + +zone.slice(3, 5)) * 60000;
    return { ms: ms - off + (frac ? Math.floor(+('0' + frac) * 1000) : 0), seconds: Math.floor((ms - off) / 1000) };
  }

  // ---------------------------------------------------------------- X.509

  const OIDS = {
    cn: '2.5.4.3', basicConstraints: '2.5.29.19', keyUsage: '2.5.29.15', extKeyUsage: '2.5.29.37', ski: '2.5.29.14',
    aki: '2.5.29.35', san: '2.5.29.17', anyEKU: '2.5.29.37.0', timeStamping: '1.3.6.1.5.5.7.3.8',
    ecPublicKey: '1.2.840.10045.2.1', rsaEncryption: '1.2.840.113549.1.1.1', ed25519: '1.3.101.112',
    p256: '1.2.840.10045.3.1.7', p384: '1.3.132.0.34', p521: '1.3.132.0.35',
    ecdsaSHA256: '1.2.840.10045.4.3.2', ecdsaSHA384: '1.2.840.10045.4.3.3', ecdsaSHA512: '1.2.840.10045.4.3.4',
    rsaSHA256: '1.2.840.113549.1.1.11', rsaSHA384: '1.2.840.113549.1.1.12', rsaSHA512: '1.2.840.113549.1.1.13',
    sha256: '2.16.840.1.101.3.4.2.1', sha384: '2.16.840.1.101.3.4.2.2', sha512: '2.16.840.1.101.3.4.2.3',
    signedData: '1.2.840.113549.1.7.2', tstInfo: '1.2.840.113549.1.9.16.1.4', contentTypeAttr: '1.2.840.113549.1.9.3',
    messageDigestAttr: '1.2.840.113549.1.9.4', signingCertificate: '1.2.840.113549.1.9.16.2.12',
    signingCertificateV2: '1.2.840.113549.1.9.16.2.47',
  };
  const HASHES = { [OIDS.sha256]: 'SHA-256', [OIDS.sha384]: 'SHA-384', [OIDS.sha512]: 'SHA-512' };
  const DN_NAMES = { '2.5.4.3': 'CN', '2.5.4.6': 'C', '2.5.4.7': 'L', '2.5.4.8': 'ST', '2.5.4.9': 'STREET', '2.5.4.10': 'O', '2.5.4.11': 'OU', '2.5.4.17': 'POSTALCODE', '2.5.4.5': 'SERIALNUMBER' };
  // The extensions this page understands; a certificate with any other
  // critical extension is rejected (RFC 5280 §4.2).
  const KNOWN_EXTENSIONS = new Set([OIDS.basicConstraints, OIDS.keyUsage, OIDS.extKeyUsage, OIDS.ski, OIDS.aki, OIDS.san]);

  function dnString(nameTLV) {
    const rdns = [];
    for (const set of kids(nameTLV)) {
      const parts = [];
      for (const atv of kids(set)) {
        const [t, val] = kids(atv);
        const oid = derOID(t);
        let s;
        try { s = utf8.decode(body(val)); } catch (e) { s = '#' + hex(full(val)); }
        parts.push(`${DN_NAMES[oid] || oid}=${s}`);
      }
      rdns.push(parts.join('+'));
    }
    return rdns.reverse().join(',');
  }

  function cnOf(dn) {
    const m = /(?:^|,)CN=([^,]*)/.exec(dn);
    return m ? m[1] : dn;
  }

  const commonName = (c) => cnOf(c.subject);

  // parseCertificate parses an X.509 certificate strictly enough to verify
  // it: the signed part, names, validity, key and the extensions path
  // validation uses.
  function parseCertificate(der) {
    const top = derExact(der);
    const r = reader(top, SEQ, 'certificate');
    const tbsTLV = r.next(SEQ, 'tbsCertificate');
    const sigAlg = algId(r.next(SEQ, 'signatureAlgorithm'), 'signatureAlgorithm');
    const sig = derBits(r.next(BITS, 'signatureValue'));
    r.done();
    const t = reader(tbsTLV, SEQ, 'tbsCertificate');
    let version = 1;
    const v = t.opt(0xa0);
    if (v) {
      const vr = reader(v, 0xa0, 'version');
      version = derSmallInt(vr.next(INT, 'version')) + 1;
      vr.done();
      if (version < 1 || version > 3) throw new DerError(`certificate version ${version}`);
    }
    const serial = derInt(t.next(INT, 'serialNumber'));
    const innerAlg = algId(t.next(SEQ, 'signature'), 'signature');
    if (!equal(innerAlg.raw, sigAlg.raw)) throw new DerError('inner and outer signature algorithm identifiers do not match');
    const issuerTLV = t.next(SEQ, 'issuer');
    const validity = reader(t.next(SEQ, 'validity'), SEQ, 'validity');
    const notBefore = derTime(validity.next(undefined, 'notBefore'));
    const notAfter = derTime(validity.next(undefined, 'notAfter'));
    validity.done();
    const subjectTLV = t.next(SEQ, 'subject');
    const spkiTLV = t.next(SEQ, 'subjectPublicKeyInfo');
    const spki = reader(spkiTLV, SEQ, 'subjectPublicKeyInfo');
    const keyAlg = algId(spki.next(SEQ, 'algorithm'), 'algorithm');
    derBits(spki.next(BITS, 'subjectPublicKey'));
    spki.done();
    t.opt(0x81);
    t.opt(0xa1);
    t.opt(0x82);
    t.opt(0xa2);
    const c = {
      raw: der, tbs: full(tbsTLV), sigAlg, sig: sig.bytes, version, serial,
      issuerRaw: full(issuerTLV), subjectRaw: full(subjectTLV), issuer: dnString(issuerTLV), subject: dnString(subjectTLV),
      notBefore, notAfter, spki: full(spkiTLV), keyAlg,
      isCA: false, basicConstraints: false, maxPathLen: -1, keyUsage: 0, eku: null, ekuCritical: false, ski: null,
      unhandledCritical: [],
    };
    const extsTLV = t.opt(0xa3);
    t.done();
    if (extsTLV) {
      if (version !== 3) throw new DerError('extensions in a certificate that is not v3');
      const er = reader(extsTLV, 0xa3, 'extensions');
      const seen = new Set();
      for (const ext of kids(er.next(SEQ, 'extensions'))) {
        const x = reader(ext, SEQ, 'extension');
        const id = derOID(x.next(OID, 'extnID'));
        const critTLV = x.opt(BOOL);
        const critical = critTLV ? derBool(critTLV) : false;
        const value = derOctets(x.next(OCTETS, 'extnValue'));
        x.done();
        if (seen.has(id)) throw new DerError(`duplicate extension ${id}`);
        seen.add(id);
        parseExtension(c, id, critical, value);
      }
      er.done();
    }
    return c;
  }

  function parseExtension(c, id, critical, value) {
    switch (id) {
      case OIDS.basicConstraints: {
        const r = reader(derExact(value), SEQ, 'basicConstraints');
        const ca = r.opt(BOOL);
        c.isCA = ca ? derBool(ca) : false;
        const pl = r.opt(INT);
        if (pl) { c.maxPathLen = derSmallInt(pl); if (c.maxPathLen < 0) throw new DerError('negative pathLenConstraint'); }
        r.done();
        c.basicConstraints = true;
        return;
      }
      case OIDS.keyUsage: {
        const bits = derBits(derExact(value));
        let ku = 0;
        for (let i = 0; i < bits.bitLength && i < 9; i++) if (bits.bytes[i >> 3] & (0x80 >> (i & 7))) ku |= 1 << i;
        c.keyUsage = ku;
        return;
      }
      case OIDS.extKeyUsage: {
        const seq = derExact(value);
        if (seq.t !== SEQ) throw new DerError('extKeyUsage is not a SEQUENCE');
        c.eku = kids(seq).map(derOID);
        c.ekuCritical = critical;
        return;
      }
      case OIDS.ski:
        c.ski = derOctets(derExact(value));
        return;
      default:
        if (critical && !KNOWN_EXTENSIONS.has(id)) c.unhandledCritical.push(id);
    }
  }

  const KU_DIGITAL_SIGNATURE = 1, KU_CONTENT_COMMITMENT = 2, KU_CERT_SIGN = 1 << 5;

  // Signature algorithms WebCrypto verifies for this page. RSA-PSS, DSA and
  // SHA-1 signatures are not accepted (aurora-verify refuses SHA-1 too).
  function sigParams(oid, cmsHash) {
    const byHash = (h) => (cmsHash ? h(cmsHash) : null);
    switch (oid) {
      case OIDS.ecdsaSHA256: return { kind: 'ecdsa', hash: 'SHA-256' };
      case OIDS.ecdsaSHA384: return { kind: 'ecdsa', hash: 'SHA-384' };
      case OIDS.ecdsaSHA512: return { kind: 'ecdsa', hash: 'SHA-512' };
      case OIDS.rsaSHA256: return { kind: 'rsa', hash: 'SHA-256' };
      case OIDS.rsaSHA384: return { kind: 'rsa', hash: 'SHA-384' };
      case OIDS.rsaSHA512: return { kind: 'rsa', hash: 'SHA-512' };
      case OIDS.ed25519: return { kind: 'ed25519' };
      case OIDS.ecPublicKey: return byHash((h) => ({ kind: 'ecdsa', hash: h }));
      case OIDS.rsaEncryption: return byHash((h) => ({ kind: 'rsa', hash: h }));
    }
    return null;
  }

  // ecdsaRaw turns a DER ECDSA-Sig-Value into WebCrypto's r || s; null if
  // it is not a well-formed pair of positive integers that fit the curve.
  function ecdsaRaw(sig, size) {
    let parts;
    try {
      const r = reader(derExact(sig), SEQ, 'ECDSA signature');
      parts = [derInt(r.next(INT, 'r')), derInt(r.next(INT, 's'))];
      r.done();
    } catch (e) {
      return null;
    }
    const out = new Uint8Array(2 * size);
    for (let i = 0; i < 2; i++) {
      let v = parts[i];
      if (v[0] & 0x80) return null;
      while (v.length > 1 && v[0] === 0) v = v.subarray(1);
      if (v.length > size) return null;
      out.set(v, (i + 1) * size - v.length);
    }
    return out;
  }

  const CURVES = { [OIDS.p256]: ['P-256', 32], [OIDS.p384]: ['P-384', 48], [OIDS.p521]: ['P-521', 66] };

  // checkSignature verifies sig over data with the certificate's key, as
  // x509.Certificate.CheckSignature does: the key must be of the
  // algorithm's type. It throws when the key cannot be used at all.
  async function checkSignature(cert, alg, data, sig) {
    const ka = cert.keyAlg;
    const want = { ecdsa: OIDS.ecPublicKey, rsa: OIDS.rsaEncryption, ed25519: OIDS.ed25519 }[alg.kind];
    if (ka.oid !== want) throw new Error(`the signature algorithm needs a ${alg.kind} key, the certificate has ${ka.oid}`);
    let curve = null;
    if (alg.kind === 'ecdsa') {
      curve = ka.params && ka.params.t === OID ? CURVES[derOID(ka.params)] : null;
      if (!curve) throw new Error('unsupported elliptic curve');
    }
    let key;
    try {
      if (alg.kind === 'ecdsa') key = await subtle().importKey('spki', cert.spki, { name: 'ECDSA', namedCurve: curve[0] }, false, ['verify']);
      else if (alg.kind === 'rsa') key = await subtle().importKey('spki', cert.spki, { name: 'RSASSA-PKCS1-v1_5', hash: alg.hash }, false, ['verify']);
      else key = await subtle().importKey('spki', cert.spki, { name: 'Ed25519' }, false, ['verify']);
    } catch (e) {
      throw new Error(`WebCrypto cannot use the key of ${JSON.stringify(commonName(cert))}: ${e && e.message || e}`);
    }
    if (alg.kind === 'ecdsa') {
      const raw = ecdsaRaw(sig, curve[1]);
      return raw !== null && subtle().verify({ name: 'ECDSA', hash: alg.hash }, key, raw, data);
    }
    return subtle().verify({ name: alg.kind === 'rsa' ? 'RSASSA-PKCS1-v1_5' : 'Ed25519' }, key, sig, data);
  }

  // --------------------------------------------------------------- RFC 3161

  class TokenError extends Error {
    constructor(check, detail) { super(`${check}: ${detail}`); this.check = check; }
  }
  const tfail = (check, detail) => new TokenError(check, detail);

  function parseAttrs(signedAttrsDER) {
    const attrs = [];
    for (const a of kids(derExact(signedAttrsDER))) {
      const r = reader(a, SEQ, 'attribute');
      const type = derOID(r.next(OID, 'attrType'));
      const values = r.next(SET, 'attrValues');
      r.done();
      attrs.push({ type, values });
    }
    return attrs;
  }

  // signedAttr returns the single value of attribute oid (null if absent);
  // a repeated attribute or several values are errors.
  function signedAttr(attrs, oid) {
    const found = attrs.filter((a) => a.type === oid);
    if (found.length === 0) return null;
    if (found.length > 1) throw new Error(`attribute ${oid} appears twice`);
    const vs = kids(found[0].values);
    if (vs.length !== 1) throw new Error(`attribute ${oid} has ${vs.length} values`);
    return vs[0];
  }

  // parseTokenEnvelope: TimeStampResp or bare token → SignedData pieces
  // (tsa.Verify's tokenFromDER and parseEnvelope).
  function parseTokenEnvelope(der) {
    let outer;
    try { outer = derExact(der); } catch (e) { throw tfail('encoding', 'outer value: ' + e.message); }
    if (outer.t !== SEQ) throw tfail('encoding', 'outer value is not a SEQUENCE');
    let tok = der;
    const els = (() => { try { return kids(outer); } catch (e) { throw tfail('encoding', 'first element: ' + e.message); } })();
    if (els.length === 0 || els[0].t !== OID) {
      try {
        const r = reader(outer, SEQ, 'TimeStampResp');
        const st = reader(r.next(SEQ, 'status'), SEQ, 'PKIStatusInfo');
        const status = derSmallInt(st.next(INT, 'status'));
        const text = st.opt(SEQ);
        if (text) for (const s of kids(text)) if (![0x0c, 0x12, 0x13, 0x14, 0x16, 0x1e].includes(s.t)) throw new DerError('statusString is not a string');
        const fi = st.opt(BITS);
        if (fi) derBits(fi);
        st.done();
        const token = r.opt(SEQ);
        r.done();
        if (status !== 0 && status !== 1) throw tfail('status', `TSA refused the request: status ${status}`);
        if (!token) throw tfail('status', 'granted response carries no token');
        tok = full(token);
      } catch (e) {
        if (e instanceof TokenError) throw e;
        throw tfail('encoding', 'TimeStampResp: ' + e.message);
      }
    }
    const env = {};
    let sdTLV;
    try {
      const ci = reader(derExact(tok), SEQ, 'ContentInfo');
      const ct = derOID(ci.next(OID, 'contentType'));
      const content = ci.next(0xa0, 'content');
      ci.done();
      if (ct !== OIDS.signedData) throw tfail('content-type', `ContentInfo (got ${ct}, want ${OIDS.signedData})`);
      const cr = reader(content, 0xa0, 'content');
      sdTLV = cr.next(SEQ, 'SignedData');
      cr.done();
    } catch (e) {
      if (e instanceof TokenError) throw e;
      throw tfail('encoding', 'ContentInfo: ' + e.message);
    }
    let sd, eContent;
    try {
      sd = reader(sdTLV, SEQ, 'SignedData');
      derSmallInt(sd.next(INT, 'version'));
      for (const a of kids(sd.next(SET, 'digestAlgorithms'))) algId(a, 'digestAlgorithm');
      const eci = reader(sd.next(SEQ, 'encapContentInfo'), SEQ, 'encapContentInfo');
      env.eContentType = derOID(eci.next(OID, 'eContentType'));
      eContent = eci.opt(0xa0);
      eci.done();
    } catch (e) {
      throw tfail('encoding', 'SignedData: ' + e.message);
    }
    if (env.eContentType !== OIDS.tstInfo) throw tfail('content-type', `eContentType (got ${env.eContentType}, want ${OIDS.tstInfo})`);
    try {
      if (!eContent) throw new DerError('absent');
      const er = reader(eContent, 0xa0, 'eContent');
      env.content = derOctets(er.next(OCTETS, 'OCTET STRING'));
      er.done();
    } catch (e) {
      throw tfail('encoding', 'eContent is not an OCTET STRING: ' + e.message);
    }
    let certsTLV, signerInfos;
    try {
      certsTLV = sd.opt(0xa0);
      sd.opt(0xa1);
      signerInfos = kids(sd.next(SET, 'signerInfos'));
      sd.done();
    } catch (e) {
      throw tfail('encoding', 'SignedData: ' + e.message);
    }
    env.certs = [];
    if (certsTLV) {
      for (const c of kids(certsTLV)) {
        if (c.t !== SEQ) throw tfail('encoding', 'certificates: only X.509 certificates are supported');
        if (env.certs.length === L.tokenCerts) throw tfail('encoding', `more than ${L.tokenCerts} certificates`);
        try { env.certs.push(parseCertificate(full(c))); } catch (e) { throw tfail('encoding', 'certificate: ' + e.message); }
      }
    }
    if (signerInfos.length !== 1) throw tfail('signer', `${signerInfos.length} signer infos, want exactly 1`);
    try {
      const si = reader(signerInfos[0], SEQ, 'SignerInfo');
      derSmallInt(si.next(INT, 'version'));
      env.sid = si.next(undefined, 'sid');
      env.digestAlg = algId(si.next(SEQ, 'digestAlgorithm'), 'digestAlgorithm');
      env.signedAttrsTLV = si.opt(0xa0);
      env.sigAlg = algId(si.next(SEQ, 'signatureAlgorithm'), 'signatureAlgorithm');
      env.signature = derOctets(si.next(OCTETS, 'signature'));
      si.opt(0xa1);
      si.done();
    } catch (e) {
      throw tfail('encoding', 'SignerInfo: ' + e.message);
    }
    if (!env.signedAttrsTLV) throw tfail('signature', 'no signed attributes');
    // The signature covers the attributes as a SET OF (RFC 5652 §5.4): the
    // [0] IMPLICIT tag replaced by the universal SET tag.
    env.signedAttrs = concat(Uint8Array.of(0x31), full(env.signedAttrsTLV).subarray(1));
    try { env.attrs = parseAttrs(env.signedAttrs); } catch (e) { throw tfail('encoding', 'signedAttrs: ' + e.message); }
    return env;
  }

  function parseTSTInfo(content) {
    try {
      const r = reader(derExact(content), SEQ, 'TSTInfo');
      const tst = { version: derSmallInt(r.next(INT, 'version')) };
      tst.policy = derOID(r.next(OID, 'policy'));
      const mi = reader(r.next(SEQ, 'messageImprint'), SEQ, 'messageImprint');
      tst.imprintAlg = algId(mi.next(SEQ, 'hashAlgorithm'), 'hashAlgorithm');
      tst.imprint = derOctets(mi.next(OCTETS, 'hashedMessage'));
      mi.done();
      derInt(r.next(INT, 'serialNumber'));
      const gt = r.next(0x18, 'genTime');
      tst.genTime = derTime(gt);
      const acc = r.opt(SEQ);
      if (acc) {
        const ar = reader(acc, SEQ, 'accuracy');
        const sec = ar.opt(INT);
        if (sec) derInt(sec);
        for (const t of [0x80, 0x81]) { const x = ar.opt(t); if (x) derInt({ ...x, t: INT }); }
        ar.done();
      }
      const ord = r.opt(BOOL);
      if (ord) derBool(ord);
      const nonce = r.opt(INT);
      if (nonce) derInt(nonce);
      r.opt(0xa0); // tsa name
      tst.extensions = [];
      const exts = r.opt(0xa1);
      if (exts) {
        for (const e of kids(exts)) {
          const x = reader(e, SEQ, 'extension');
          const id = derOID(x.next(OID, 'extnID'));
          const crit = x.opt(BOOL);
          derOctets(x.next(OCTETS, 'extnValue'));
          x.done();
          tst.extensions.push({ id, critical: crit ? derBool(crit) : false });
        }
      }
      r.done();
      return tst;
    } catch (e) {
      throw tfail('encoding', 'TSTInfo: ' + e.message);
    }
  }

  function findSigner(env) {
    const sid = env.sid;
    if (sid.t === SEQ) {
      let issuer, serial;
      try {
        const r = reader(sid, SEQ, 'IssuerAndSerialNumber');
        issuer = full(r.next(undefined, 'issuer'));
        serial = derInt(r.next(INT, 'serialNumber'));
        r.done();
      } catch (e) {
        throw tfail('encoding', 'SignerIdentifier: ' + e.message);
      }
      for (const c of env.certs) if (equal(c.issuerRaw, issuer) && equal(c.serial, serial)) return c;
    } else if (sid.t === 0x80) {
      for (const c of env.certs) if (c.ski && equal(c.ski, body(sid))) return c;
    } else {
      throw tfail('encoding', 'SignerIdentifier is neither issuerAndSerialNumber nor subjectKeyIdentifier');
    }
    throw tfail('signer', 'signer certificate is not embedded in the token');
  }

  async function verifyCMSSignature(env, signer) {
    const h = HASHES[env.digestAlg.oid];
    if (!h || !hashParamsOK(env.digestAlg)) throw tfail('hash-algorithm', `SignerInfo digestAlgorithm (got ${env.digestAlg.oid}, want sha256, sha384 or sha512)`);
    let ct;
    try {
      const v = signedAttr(env.attrs, OIDS.contentTypeAttr);
      if (!v) throw new Error('attribute absent');
      ct = derOID(v);
    } catch (e) {
      throw tfail('content-type', 'signed contentType attribute: ' + e.message);
    }
    if (ct !== OIDS.tstInfo) throw tfail('content-type', `signed contentType attribute (got ${ct}, want ${OIDS.tstInfo})`);
    let md;
    try {
      const v = signedAttr(env.attrs, OIDS.messageDigestAttr);
      if (!v) throw new Error('attribute absent');
      md = derOctets(v);
    } catch (e) {
      throw tfail('signature', 'messageDigest attribute: ' + e.message);
    }
    const sum = await digest(h, env.content);
    if (!equal(sum, md)) throw tfail('signature', `messageDigest does not match the TSTInfo (got ${hex(md)}, want ${hex(sum)})`);
    const alg = sigParams(env.sigAlg.oid, h);
    if (!alg) throw tfail('hash-algorithm', `signature algorithm (got ${env.sigAlg.oid}, want ECDSA, RSA PKCS#1 v1.5 or Ed25519 with SHA-2)`);
    let ok;
    try { ok = await checkSignature(signer, alg, env.signedAttrs, env.signature); } catch (e) { throw tfail('signature', `by ${JSON.stringify(commonName(signer))}: ${e.message}`); }
    if (!ok) throw tfail('signature', `by ${JSON.stringify(commonName(signer))}: the signature does not verify`);
  }

  async function checkSigningCertAttr(env, signer) {
    let v;
    try { v = signedAttr(env.attrs, OIDS.signingCertificateV2); } catch (e) { throw tfail('signing-certificate', 'signingCertificateV2: ' + e.message); }
    if (v) {
      let id;
      try {
        const r = reader(v, SEQ, 'SigningCertificateV2');
        const certs = kids(r.next(SEQ, 'certs'));
        if (r.peek()) r.next(SEQ, 'policies');
        r.done();
        if (certs.length === 0) throw tfail('signing-certificate', 'signingCertificateV2 lists no certificate');
        for (const c of certs) {
          const cr = reader(c, SEQ, 'ESSCertIDv2');
          const alg = cr.opt(SEQ);
          const e = { alg: alg ? algId(alg, 'hashAlgorithm') : null, hash: derOctets(cr.next(OCTETS, 'certHash')) };
          if (cr.peek()) cr.next(SEQ, 'issuerSerial');
          cr.done();
          if (!id) id = e;
        }
      } catch (e) {
        if (e instanceof TokenError) throw e;
        throw tfail('signing-certificate', 'signingCertificateV2: ' + e.message);
      }
      let h = 'SHA-256';
      if (id.alg) {
        h = HASHES[id.alg.oid];
        if (!h) throw tfail('hash-algorithm', `ESSCertIDv2 (got ${id.alg.oid}, want sha256, sha384 or sha512)`);
      }
      const sum = await digest(h, signer.raw);
      if (!equal(sum, id.hash)) throw tfail('signing-certificate', `ESSCertIDv2 hash does not name the signer certificate (got ${hex(id.hash)}, want ${hex(sum)})`);
      return;
    }
    let v1;
    try { v1 = signedAttr(env.attrs, OIDS.signingCertificate); } catch (e) { throw tfail('signing-certificate', 'signingCertificate: ' + e.message); }
    if (!v1) throw tfail('signing-certificate', 'neither signingCertificateV2 nor signingCertificate is a signed attribute');
    let first;
    try {
      const r = reader(v1, SEQ, 'SigningCertificate');
      const certs = kids(r.next(SEQ, 'certs'));
      if (r.peek()) r.next(SEQ, 'policies');
      r.done();
      if (certs.length === 0) throw tfail('signing-certificate', 'signingCertificate lists no certificate');
      for (const c of certs) {
        const cr = reader(c, SEQ, 'ESSCertID');
        const hsh = derOctets(cr.next(OCTETS, 'certHash'));
        if (cr.peek()) cr.next(SEQ, 'issuerSerial');
        cr.done();
        if (!first) first = hsh;
      }
    } catch (e) {
      if (e instanceof TokenError) throw e;
      throw tfail('signing-certificate', 'signingCertificate: ' + e.message);
    }
    const sum = await digest('SHA-1', signer.raw);
    if (!equal(sum, first)) throw tfail('signing-certificate', `ESSCertID hash does not name the signer certificate (got ${hex(first)}, want ${hex(sum)})`);
  }

  function validAt(c, at) { return at.ms >= c.notBefore.ms && at.ms <= c.notAfter.ms; }
  const iso = (t) => new Date(t.ms).toISOString().replace('.000Z', 'Z');

  // verifyChain finds a path from the signer to one of the roots, with the
  // rules of RFC 5280 that crypto/x509 applies and this page implements:
  // each signature by its issuer's key, issuers that are CAs (v3) with
  // keyCertSign when they have a keyUsage, intermediates with
  // basicConstraints CA:TRUE, path lengths, every certificate valid at the
  // token's time, no unknown critical extension, and the timeStamping usage
  // allowed by every certificate that restricts extended key usages. It does
  // not process name constraints (a CA carrying them is refused) or
  // certificate policies, and checks no revocation.
  async function verifyChain(signer, candidates, roots, at) {
    if (signer.unhandledCritical.length) throw tfail('chain', `signer ${JSON.stringify(commonName(signer))} has a critical extension this page does not process (${signer.unhandledCritical.join(', ')})`);
    if (!validAt(signer, at)) {
      throw tfail('validity', `${JSON.stringify(commonName(signer))} valid ${iso(signer.notBefore)} to ${iso(signer.notAfter)} (got ${iso(at)}, want a time within the validity period)`);
    }
    let checks = 0;
    let hint = null;
    const chains = [];
    const inChain = (c, chain) => chain.some((x) => equal(x.raw, c.raw));
    async function consider(cert, chain, parent, isRoot) {
      if (inChain(parent, chain)) return false;
      if (++checks > L.chainSigChecks) throw tfail('chain', 'signature check attempts limit reached while verifying certificate chain');
      const why = await signedBy(cert, parent);
      if (why) { hint = hint || why; return false; }
      const inv = parentInvalid(parent, chain, isRoot, at);
      if (inv) { hint = hint || inv; return false; }
      return true;
    }
    async function build(chain) {
      const cert = chain[chain.length - 1];
      for (const r of roots) {
        if (equal(r.subjectRaw, cert.issuerRaw) && await consider(cert, chain, r, true)) chains.push([...chain, r]);
      }
      if (chain.length > 8) return;
      for (const c of candidates) {
        if (equal(c.subjectRaw, cert.issuerRaw) && !roots.some((r) => equal(r.raw, c.raw)) && await consider(cert, chain, c, false)) {
          await build([...chain, c]);
        }
      }
    }
    if (roots.some((r) => equal(r.raw, signer.raw))) chains.push([signer]);
    else await build([signer]);
    if (chains.length === 0) {
      throw tfail('chain', `signer ${JSON.stringify(commonName(signer))} (issuer ${JSON.stringify(cnOf(signer.issuer))}) does not chain to a given root${hint ? ': ' + hint : ''}`);
    }
    const ok = chains.find((ch) => ch.every((c) => !c.eku || c.eku.length === 0 || c.eku.includes(OIDS.timeStamping) || c.eku.includes(OIDS.anyEKU)));
    if (!ok) throw tfail('eku', 'chain does not allow timeStamping');
    return ok;
  }

  async function signedBy(cert, parent) {
    if (parent.version === 3 && !parent.basicConstraints || parent.basicConstraints && !parent.isCA) return `${JSON.stringify(commonName(parent))} is not a CA`;
    if (parent.keyUsage !== 0 && (parent.keyUsage & KU_CERT_SIGN) === 0) return `${JSON.stringify(commonName(parent))} may not sign certificates (keyUsage)`;
    const alg = sigParams(cert.sigAlg.oid, null);
    if (!alg) return `certificate signature algorithm ${cert.sigAlg.oid} is not supported`;
    try {
      if (!await checkSignature(parent, alg, cert.tbs, cert.sig)) return `the signature of ${JSON.stringify(commonName(cert))} does not verify with the key of ${JSON.stringify(commonName(parent))}`;
    } catch (e) {
      return e.message;
    }
    return null;
  }

  function parentInvalid(c, chain, isRoot, at) {
    if (c.unhandledCritical.length) return `${JSON.stringify(commonName(c))} has a critical extension this page does not process (${c.unhandledCritical.join(', ')})`;
    if (!validAt(c, at)) return `${JSON.stringify(commonName(c))} is not valid at ${iso(at)}`;
    if (!isRoot && (!c.basicConstraints || !c.isCA)) return `${JSON.stringify(commonName(c))} is not a CA`;
    if (c.basicConstraints && c.maxPathLen >= 0 && chain.length - 1 > c.maxPathLen) return `${JSON.stringify(commonName(c))}: too many intermediates for its path length constraint`;
    return null;
  }

  // checkTSALeaf applies RFC 3161 §2.3 to the signer certificate.
  function checkTSALeaf(c) {
    if (c.eku === null) throw tfail('eku', 'signer has no extended key usage extension');
    if (c.eku.length !== 1 || c.eku[0] !== OIDS.timeStamping) throw tfail('eku', `signer must have timeStamping as its only extended key usage (got ${c.eku.join(' ')}, want ${OIDS.timeStamping})`);
    if (!c.ekuCritical) throw tfail('eku-critical', `extended key usage of ${JSON.stringify(commonName(c))} is not critical`);
    if (c.isCA) throw tfail('not-ca', `signer ${JSON.stringify(commonName(c))} is a CA (basicConstraints CA:TRUE)`);
    if (c.keyUsage !== 0 && (c.keyUsage & (KU_DIGITAL_SIGNATURE | KU_CONTENT_COMMITMENT)) === 0) throw tfail('key-usage', 'keyUsage forbids signing');
  }

  // verifyToken checks one RFC 3161 token over a SHA-256 digest against
  // trusted roots, in the order and with the check names of tsa.Verify.
  async function verifyToken(token, want, roots) {
    if (!roots || roots.length === 0) throw tfail('roots', 'no trusted TSA roots configured');
    if (token.length === 0 || token.length > L.tokenParse) throw tfail('size', `token is ${token.length} bytes, limit ${L.tokenParse}`);
    const env = parseTokenEnvelope(token);
    const tst = parseTSTInfo(env.content);
    if (tst.version !== 1) throw tfail('tstinfo-version', `(got ${tst.version}, want 1)`);
    const signer = findSigner(env);
    await verifyCMSSignature(env, signer);
    await checkSigningCertAttr(env, signer);
    await verifyChain(signer, env.certs, roots, tst.genTime);
    checkTSALeaf(signer);
    if (tst.imprintAlg.oid !== OIDS.sha256 || !hashParamsOK(tst.imprintAlg)) throw tfail('hash-algorithm', `message imprint (got ${tst.imprintAlg.oid}, want ${OIDS.sha256} (sha256))`);
    if (!equal(tst.imprint, want)) throw tfail('imprint', `token covers a different digest (got ${hex(tst.imprint)}, want ${hex(want)})`);
    for (const e of tst.extensions) if (e.critical) throw tfail('tst-extensions', `unknown critical TSTInfo extension (got ${e.id})`);
    return { genTime: tst.genTime, signerID: hex(await sha256(signer.spki)), signer: signer.subject };
  }

  // parsePEM parses PEM CERTIFICATE blocks strictly, as
  // tsa.ParseCertificatesPEM does.
  function parsePEM(text) {
    if (enc.encode(text).length > L.pem) throw new Error(`PEM: ${enc.encode(text).length} bytes, limit ${L.pem}`);
    const certs = [];
    let rest = text;
    for (let n = 1; ; n++) {
      rest = rest.replace(/^[ \t\r\n]+/, '');
      if (rest === '') break;
      const m = /^-----BEGIN ([^\r\n-]*)-----\r?\n([\s\S]*?)-----END \1-----[ \t]*(?:\r?\n|$)/.exec(rest);
      if (!rest.startsWith('-----BEGIN ')) throw new Error(`PEM block ${n}: text outside PEM blocks`);
      if (!m) throw new Error(`PEM block ${n}: malformed PEM block`);
      if (m[1] !== 'CERTIFICATE') throw new Error(`PEM block ${n} (${m[1]}): not a CERTIFICATE block`);
      if (m[2].includes(':')) throw new Error(`PEM block ${n}: PEM headers are not allowed`);
      if (certs.length === L.pemCerts) throw new Error(`PEM block ${n}: more than ${L.pemCerts} certificates`);
      let der;
      try { der = b64decode(m[2].replace(/[ \t\r\n]/g, ''), false); } catch (e) { throw new Error(`PEM block ${n}: malformed PEM block`); }
      try { certs.push(parseCertificate(der)); } catch (e) { throw new Error(`PEM block ${n}: not a DER certificate: ${e.message}`); }
      rest = rest.slice(m[0].length);
    }
    if (certs.length === 0) throw new Error('PEM: no CERTIFICATE block');
    return certs;
  }

  // -------------------------------------------------------- trust policy

  class PolicyError extends Error {
    constructor(line, rule) { super(line ? `trust: policy line ${line}: ${rule}` : `trust: policy: ${rule}`); this.line = line; }
  }

  // parseVKey splits a C2SP verifier key NAME+HASH+BASE64.
  function parseVKey(s) {
    const i = s.indexOf('+');
    if (i < 0) return null;
    const name = s.slice(0, i);
    const rest = s.slice(i + 1);
    const j = rest.indexOf('+');
    if (j < 0) return { name, hash16: rest, key64: null };
    return { name, hash16: rest.slice(0, j), key64: rest.slice(j + 1) };
  }

  // logKey: provenance.ParseLogKey (x/mod/sumdb/note.NewVerifier), type 0x01.
  async function logKey(s) {
    if (s.length > L.origin + 128) throw new Error(`provenance: log key: ${s.length} bytes, too long`);
    const p = parseVKey(s);
    const bad = new Error('provenance: log key: malformed verifier id');
    if (!p || p.key64 === null || p.hash16.length !== 8 || !/^[0-9a-fA-F]{8}$/.test(p.hash16) || !validKeyName(p.name) || p.name.length > 1 << 20) throw bad;
    let key;
    try { key = b64decode(p.key64, false); } catch (e) { throw bad; }
    if (key.length === 0) throw bad;
    if (parseInt(p.hash16, 16) !== await keyHash(p.name, key[0], key.subarray(1))) throw new Error('provenance: log key: invalid verifier hash');
    if (key[0] !== 0x01 || key.length !== 33) throw new Error('provenance: log key: unknown verifier algorithm');
    return { name: p.name, hash: parseInt(p.hash16, 16), pub: key.subarray(1), raw: key.subarray(1) };
  }

  // witnessKey: provenance.ParseWitnessKey, a C2SP verifier key of type
  // 0x04 (or 0x01, converted to 0x04).
  async function witnessKey(s) {
    if (s.length > L.keyName + 128) throw new Error(`provenance: witness key: ${s.length} bytes, too long`);
    const p = parseVKey(s);
    if (!p) throw new Error('provenance: witness key: want NAME+did:key:… or NAME+HASH+BASE64');
    if (p.key64 === null || p.hash16.length !== 8) throw new Error('provenance: witness key: want NAME+HASH+BASE64 with an 8-digit hex HASH');
    if (!/^[0-9a-fA-F]{8}$/.test(p.hash16)) throw new Error('provenance: witness key: hash: invalid syntax');
    let raw;
    try { raw = b64decode(p.key64, true); } catch (e) { raw = null; }
    if (!raw || raw.length !== 33) throw new Error('provenance: witness key: want base64 of a type byte and a 32-byte Ed25519 key');
    if (raw[0] !== 0x04 && raw[0] !== 0x01) throw new Error(`provenance: witness key: type 0x${raw[0].toString(16).padStart(2, '0')}, want 0x04 (or 0x01)`);
    if (!validKeyName(p.name)) throw new Error(`provenance: witness key: invalid name ${JSON.stringify(truncate(p.name, 40))}`);
    const pub = raw.subarray(1);
    if (parseInt(p.hash16, 16) !== await keyHash(p.name, raw[0], pub)) throw new Error('provenance: witness key: key ID does not match the name and key');
    return { name: p.name, hash: await keyHash(p.name, 0x04, pub), pub };
  }

  function rawKeyID(vkey) {
    const parts = vkey.split('+');
    if (parts.length < 3) throw new Error('key: want NAME+HASH+BASE64');
    let raw;
    try { raw = b64decode(parts.slice(2).join('+'), false); } catch (e) { throw new Error('key: not base64'); }
    if (raw.length < 2) throw new Error('key: not base64');
    return hex(raw.subarray(1));
  }

  function checkURL(s) {
    let u;
    try { u = new URL(s); } catch (e) { u = null; }
    if (s.length > L.url) throw new Error(`URL longer than ${L.url} bytes`);
    if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:') || u.host === '' || u.search !== '' || u.hash !== '') {
      throw new Error(`URL ${JSON.stringify(truncate(s, 32))}: want http(s)://host/prefix without query or fragment`);
    }
    return s;
  }

  function policyDecimal(s) {
    if (s === '' || s.length > 6 || s.length > 1 && s[0] === '0' || !/^[0-9]+$/.test(s)) return null;
    return parseInt(s, 10);
  }

  // parsePolicy parses a trust policy with the rules of provenance/trust:
  // C2SP tlog-policy lines plus Aurora's tsa-roots, tsa-root and tsa-min.
  async function parsePolicy(text) {
    const data = enc.encode(text);
    if (data.length > L.policy) throw new PolicyError(0, `${data.length} bytes, limit ${L.policy}`);
    const p = { logs: [], witnesses: [], groups: [], quorum: null, rootFiles: [], roots: [], minTokens: 0 };
    const names = new Map();
    const logKeys = new Map();
    const witKeys = new Map();
    const origins = new Map();
    let quorumLine = 0;
    const lines = text.split('\n');
    if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
    for (let i = 0; i < lines.length; i++) {
      const n = i + 1;
      const raw = lines[i];
      const bad = (rule) => new PolicyError(n, rule);
      const rawLen = enc.encode(raw).length;
      if (rawLen > L.policyLine) throw bad(`${rawLen} bytes, limit ${L.policyLine}`);
      for (let k = 0; k < raw.length; k++) {
        const c = raw.charCodeAt(k);
        if (c !== 0x09 && (c < 0x20 || c === 0x7f)) throw bad(`control character 0x${c.toString(16).padStart(2, '0')}`);
      }
      const f = raw.split(/[ \t]+/).filter((x) => x !== '');
      if (f.length === 0 || f[0].startsWith('#')) continue;
      const wrap = async (fn) => { try { return await fn(); } catch (e) { if (e instanceof PolicyError) throw e; throw bad(e.message); } };
      switch (f[0]) {
        case 'log': {
          if (f.length < 2 || f.length > 3) throw bad('want: log <vkey> [<url>]');
          if (p.logs.length === L.logs) throw bad(`more than ${L.logs} logs`);
          const v = await wrap(() => logKey(f[1]));
          const id = await wrap(() => rawKeyID(f[1]));
          if (logKeys.has(id)) throw bad(`log key already listed on line ${logKeys.get(id)}`);
          if (origins.has(v.name)) throw bad(`log ${JSON.stringify(v.name)} already listed on line ${origins.get(v.name)}`);
          const l = { origin: v.name, key: f[1], verifier: v, url: '' };
          if (f.length === 3) l.url = await wrap(() => checkURL(f[2]));
          logKeys.set(id, n); origins.set(v.name, n);
          p.logs.push(l);
          break;
        }
        case 'witness': {
          if (f.length < 3 || f.length > 4) throw bad('want: witness <name> <vkey> [<url>]');
          if (p.witnesses.length === L.witnesses) throw bad(`more than ${L.witnesses} witnesses`);
          await wrap(() => checkName(f[1]));
          if (names.has(f[1])) throw bad(`name ${JSON.stringify(f[1])} already defined on line ${names.get(f[1])}`);
          if (f[2].includes('+did:key:')) throw bad('witness key: want a C2SP verifier key NAME+HASH+BASE64 (aurora proof verify --witness-key also takes NAME+did:key:…)');
          const v = await wrap(() => witnessKey(f[2]));
          const id = await wrap(() => rawKeyID(f[2]));
          if (witKeys.has(id)) throw bad(`witness key already listed on line ${witKeys.get(id)}`);
          const w = { name: f[1], key: f[2], verifier: v, url: '' };
          if (f.length === 4) w.url = await wrap(() => checkURL(f[3]));
          witKeys.set(id, n); names.set(f[1], n);
          p.witnesses.push(w);
          break;
        }
        case 'group': {
          if (f.length < 4) throw bad('want: group <name> <k|all|any> <member>...');
          if (p.groups.length === L.groups) throw bad(`more than ${L.groups} groups`);
          await wrap(() => checkName(f[1]));
          if (names.has(f[1])) throw bad(`name ${JSON.stringify(f[1])} already defined on line ${names.get(f[1])}`);
          const g = { name: f[1], members: f.slice(3), k: 0 };
          const seen = new Set();
          for (const m of g.members) {
            if (m === 'none') throw bad('"none" cannot be a group member');
            if (!names.has(m)) throw bad(`member ${JSON.stringify(m)} is not defined on an earlier line`);
            if (seen.has(m)) throw bad(`member ${JSON.stringify(m)} listed twice`);
            seen.add(m);
          }
          if (f[2] === 'all') g.k = g.members.length;
          else if (f[2] === 'any') g.k = 1;
          else {
            const k = policyDecimal(f[2]);
            if (k === null || k < 1 || k > g.members.length) throw bad(`threshold ${JSON.stringify(f[2])}: want all, any or 1..${g.members.length} without leading zeros`);
            g.k = k;
          }
          names.set(f[1], n);
          p.groups.push(g);
          break;
        }
        case 'quorum':
          if (f.length !== 2) throw bad('want: quorum <name>');
          if (quorumLine !== 0) throw bad(`second quorum line (the first is line ${quorumLine})`);
          if (!names.has(f[1]) && f[1] !== 'none') throw bad(`quorum ${JSON.stringify(f[1])} is not defined on an earlier line`);
          p.quorum = f[1]; quorumLine = n;
          break;
        case 'tsa-roots':
          if (f.length !== 2) throw bad('want: tsa-roots <PEM file>');
          if (p.rootFiles.length + p.roots.length === L.tsaRoots) throw bad(`more than ${L.tsaRoots} TSA root lines`);
          p.rootFiles.push(f[1]);
          break;
        case 'tsa-root': {
          if (f.length !== 2) throw bad('want: tsa-root <base64 DER certificate>');
          if (p.rootFiles.length + p.roots.length === L.tsaRoots) throw bad(`more than ${L.tsaRoots} TSA root lines`);
          let der;
          try { der = b64decode(f[1], true); } catch (e) { throw bad('tsa-root: not base64: ' + e.message); }
          try { p.roots.push(parseCertificate(der)); } catch (e) { throw bad('tsa-root: ' + e.message); }
          break;
        }
        case 'tsa-min': {
          if (f.length !== 2) throw bad('want: tsa-min <n>');
          if (p.minTokens !== 0) throw bad('second tsa-min line');
          const k = policyDecimal(f[1]);
          if (k === null || k < 1 || k > L.tsaMin) throw bad(`tsa-min ${JSON.stringify(f[1])}: want 1..${L.tsaMin}`);
          p.minTokens = k;
          break;
        }
        default:
          throw bad(`unknown keyword ${JSON.stringify(truncate(f[0], 32))} (want log, witness, group, quorum, tsa-roots, tsa-root or tsa-min)`);
      }
    }
    if (quorumLine === 0) throw new PolicyError(0, 'no quorum line (write "quorum none" to require no cosignatures)');
    return p;
  }

  function checkName(name) {
    if (name === 'none') throw new Error('"none" is predefined');
    if (name.includes('+')) throw new Error(`name ${JSON.stringify(truncate(name, 32))}: no "+"`);
  }

  function quorumMet(p, cos) {
    const signed = new Set();
    for (const c of cos) for (const w of p.witnesses) if (w.verifier.name === c.witness && w.verifier.hash === c.keyHash) signed.add(w.name);
    const groups = new Map(p.groups.map((g) => [g.name, g]));
    const met = (name) => {
      const g = groups.get(name);
      if (!g) return signed.has(name);
      return g.members.filter(met).length >= g.k;
    };
    return met(p.quorum);
  }

  function quorumString(p) {
    const g = p.groups.find((x) => x.name === p.quorum);
    return g ? `"${g.name}" (${g.k} of ${g.members.join(', ')})` : `"${p.quorum}" (that witness)`;
  }

  // -------------------------------------------------------------- verify

  const LINKS = ['record', 'leaf-hash', 'log-signature', 'inclusion', 'witnesses', 'tsa', 'consistency'];
  const OPTIONAL = new Set(['consistency']);

  function cosignedMessage(t, body) { return concat(enc.encode(`cosignature/v1\ntime ${t}\n`), body); }

  // verifyBundle runs every check of provenance.VerifyBundle on a bundle
  // (bytes or text) with a trust policy (text) and optional PEM roots for
  // the policy's tsa-roots lines. It never throws: a bundle or policy that
  // does not parse is a report whose `fatal` names it.
  async function verifyBundle(bundle, policyText, rootsPEM, opts) {
    const t0 = performance.now();
    const now = opts && opts.now !== undefined ? opts.now : Date.now() / 1000;
    const r = { verdicts: [], fatal: null, notes: [], outcome: 'failed', summary: '', ms: 0 };
    const data = typeof bundle === 'string' ? enc.encode(bundle) : bundle;
    try {
      await run(r, data, policyText, rootsPEM || '', now);
    } catch (e) {
      // Not a verdict: an input this page could not use at all.
      r.fatal = r.fatal || { what: 'internal', detail: String(e && e.message || e) };
    }
    r.ms = performance.now() - t0;
    summarize(r);
    return r;
  }

  async function run(r, data, policyText, rootsPEM, now) {
    if (!globalThis.crypto || !globalThis.crypto.subtle) {
      r.fatal = { what: 'webcrypto', detail: 'WebCrypto is unavailable: this page needs a secure context (https, http://localhost or a file)' };
      return;
    }
    // In the order of aurora-verify: the bundle, the policy, its log for
    // the bundle's origin, then the TSA roots.
    let b;
    try { b = parseBundle(data); } catch (e) { r.fatal = { what: 'bundle', detail: 'provenance: bundle: ' + e.message }; return; }
    let pol;
    try { pol = await parsePolicy(policyText); } catch (e) { r.fatal = { what: 'policy', detail: e.message }; return; }
    const origin = (() => { const s = b.note.text; const i = s.indexOf('\n'); return i < 0 ? s : s.slice(0, i); })();
    const log = pol.logs.find((l) => l.origin === origin);
    if (!log) { r.fatal = { what: 'policy', detail: `the policy lists no log with origin ${JSON.stringify(origin)}` }; return; }
    let roots = pol.roots.slice();
    let tsaSkip = null;
    if (rootsPEM.trim() !== '') {
      try { roots = roots.concat(parsePEM(rootsPEM)); } catch (e) { r.fatal = { what: 'tsa-roots', detail: 'the TSA roots: ' + e.message }; return; }
    } else if (pol.rootFiles.length > 0) {
      tsaSkip = `the policy names TSA root files (${pol.rootFiles.join(', ')}) that this page cannot read: paste their PEM in the TSA roots box`;
      r.notes.push(tsaSkip);
    }
    r.origin = origin;
    r.index = b.index;

    const add = (check, ok, detail) => r.verdicts.push({ check, status: ok ? 'ok' : 'FAIL', detail });
    const skip = (check, detail) => r.verdicts.push({ check, status: 'skip', detail });

    // 1. record
    try { const rec = checkRecord(b.leaf); r.job = rec.job; add('record', true, rec.detail); } catch (e) { add('record', false, 'treaty: ' + e.message); }

    // 2. leaf hash
    const leafHash = await sha256(concat(Uint8Array.of(0), b.leaf));
    add('leaf-hash', true, `SHA-256(0x00 || leaf) = ${hex(leafHash)}`);

    // 3. log signature; checks 4 to 6 count only on a verified checkpoint.
    let body = null;
    let bodyErr = null;
    try {
      body = parseCheckpointBody(b.note.text);
      if (body.origin !== origin) throw new Error(`checkpoint origin ${JSON.stringify(body.origin)}, want ${JSON.stringify(origin)}`);
    } catch (e) { body = null; bodyErr = e; }
    const settle = (fn) => fn().then((detail) => ({ detail }), (err) => ({ err }));
    const logV = body ? await settle(() => checkLogSignature(b, log.verifier, body)) : { err: bodyErr };
    const cp = logV.err ? null : body;
    const inclV = cp && await settle(() => checkInclusion(b, cp, leafHash));
    const witV = cp && pol.quorum !== 'none' && await settle(() => checkWitnesses(b, pol, now));
    const tsaV = cp && !tsaSkip && roots.length > 0 && await settle(() => checkTokens(b, roots, pol.minTokens || 2));

    // 3. log signature
    add('log-signature', !logV.err, logV.err ? logV.err.message : logV.detail);

    // 4. inclusion
    if (!cp) add('inclusion', false, 'no verified checkpoint to prove inclusion in');
    else add('inclusion', !inclV.err, inclV.err ? inclV.err.message : inclV.detail);

    // 5. witnesses
    if (pol.quorum === 'none') skip('witnesses', 'the policy requires no cosignature (quorum none)');
    else if (!cp) add('witnesses', false, 'no verified checkpoint');
    else add('witnesses', !witV.err, witV.err ? witV.err.message : witV.detail);

    // 6. TSA tokens
    if (tsaSkip) skip('tsa', `${tsaSkip} (${b.tsa.length} tokens not checked)`);
    else if (roots.length === 0) skip('tsa', `no TSA roots given (${b.tsa.length} tokens not checked)`);
    else if (!cp) add('tsa', false, 'no verified checkpoint to match tokens against');
    else add('tsa', !tsaV.err, tsaV.err ? tsaV.err.message : tsaV.detail);

    // 7. consistency
    skip('consistency', 'not offered by this page (aurora-verify --newer --consistency checks it)');
  }

  // checkLogSignature: the note carries a valid signature by the log's key
  // for its origin, and no invalid one by that key (C2SP signed-note).
  async function checkLogSignature(b, v, cp) {
    let signed = false;
    for (const s of b.note.sigs) {
      if (s.name !== v.name || s.keyHash !== v.hash) continue;
      if (s.sig.length !== 64 || !await ed25519Verify(v.pub, b.note.textBytes, s.sig)) {
        throw new Error(`signature by ${s.name}+${hex8(s.keyHash)}: does not verify`);
      }
      signed = true;
    }
    if (!signed) throw new Error(`checkpoint not signed by the log: no signature by ${v.name}+${hex8(v.hash)}`);
    return `${cp.origin} size ${cp.size} signed by ${v.name}+${hex8(v.hash)}`;
  }

  async function checkInclusion(b, cp, leafHash) {
    if (b.index >= cp.size) throw new Error(`index ${b.index} is outside the checkpoint's tree of size ${cp.size}`);
    await verifyInclusion(b.index, cp.size, leafHash, b.proof, cp.root);
    return `leaf ${b.index} in tree of size ${cp.size} (${b.proof.length} hashes)`;
  }

  // checkWitnesses: every cosignature by a policy witness verifies (a bad
  // one by a known key fails the note), none is dated in the future, and
  // they meet the quorum. They are verified concurrently and judged in note
  // order.
  async function checkWitnesses(b, pol, now) {
    const known = b.note.sigs.map((s) => [s, pol.witnesses.find((x) => x.verifier.name === s.name && x.verifier.hash === s.keyHash)]).filter(([, w]) => w);
    const results = await Promise.all(known.map(async ([s, w]) => {
      let t = -1n;
      if (s.sig.length === 72) t = (BigInt(u32(s.sig, 0)) << 32n) | BigInt(u32(s.sig, 4));
      const ok = t >= 0n && t <= L.cosigTimeMax && await ed25519Verify(w.verifier.pub, cosignedMessage(t, b.note.textBytes), s.sig.subarray(8));
      return { s, t, ok };
    }));
    const cos = [];
    for (const { s, t, ok } of results) {
      if (!ok) throw new Error(`signature by ${s.name}+${hex8(s.keyHash)}: does not verify`);
      cos.push({ witness: s.name, keyHash: s.keyHash, time: Number(t) });
    }
    for (const c of cos) {
      if (c.time > now + L.clockSkewSeconds) throw new Error(`cosignature by ${c.witness} is dated ${isoSeconds(c.time)}, in the future`);
    }
    const list = cos.map((c) => `${c.witness}@${isoSeconds(c.time)}`).join(', ');
    if (!quorumMet(pol, cos)) throw new Error(`${cos.length} trusted cosignatures (${list}) do not meet the quorum ${quorumString(pol)}`);
    return `${cos.length} of ${pol.witnesses.length} trusted witnesses cosigned, quorum ${quorumString(pol)} met: ${list}`;
  }

  // checkTokens: every token verifies over SHA-256(checkpoint body), and
  // they come from minTokens distinct TSAs (signer keys). The tokens are
  // verified concurrently; the first failure in token order is the verdict.
  async function checkTokens(b, roots, minTokens) {
    const d = await sha256(b.note.textBytes);
    const results = await Promise.all(b.tsa.map((tok) => verifyToken(tok, d, roots).then((info) => ({ info }), (err) => ({ err }))));
    const distinct = new Map();
    const times = [];
    results.forEach(({ info, err }, i) => {
      if (err) throw new Error(`token ${i}: ${err.message}`);
      times.push(isoSeconds(info.genTime.seconds));
      if (!distinct.has(info.signerID)) distinct.set(info.signerID, info.signer);
    });
    const signers = [...distinct.values()].map((s) => JSON.stringify(s)).join(', ');
    if (distinct.size < minTokens) throw new Error(`${b.tsa.length} valid tokens from ${distinct.size} distinct TSAs (${signers}), want ${minTokens} distinct TSAs`);
    return `${b.tsa.length} tokens from ${distinct.size} distinct TSAs (${signers}) over SHA-256(checkpoint) = ${hex(d.subarray(0, 8))} at ${times.join(', ')}`;
  }

  function isoSeconds(s) { return new Date(s * 1000).toISOString().replace('.000Z', 'Z'); }

  function summarize(r) {
    if (r.fatal) {
      r.outcome = 'failed';
      r.broken = r.fatal.what;
      r.summary = `NOT verified: ${r.fatal.what}: ${r.fatal.detail}`;
      return;
    }
    const failed = r.verdicts.find((v) => v.status === 'FAIL');
    const checked = r.verdicts.filter((v) => v.status === 'ok').map((v) => v.check).join(', ');
    const skipped = r.verdicts.filter((v) => v.status === 'skip' && !OPTIONAL.has(v.check));
    if (failed) {
      r.outcome = 'failed';
      r.broken = failed.check;
      r.summary = `FAILED at ${failed.check}: ${failed.detail}`;
    } else if (skipped.length) {
      r.outcome = 'partial';
      r.summary = `NOT fully verified: leaf ${r.index} of ${r.origin} (checked: ${checked}; NOT checked: ${skipped.map((v) => v.check + ': ' + v.detail).join('; ')})`;
    } else {
      r.outcome = 'verified';
      r.summary = `verified: leaf ${r.index} of ${r.origin} (checked: ${checked})`;
    }
  }

  // verifyTokenReport is verifyToken for tests and tools: it never throws
  // and names the failed check as provenance/tsa does.
  async function verifyTokenReport(token, digestBytes, rootsDER) {
    try {
      const roots = rootsDER.map(parseCertificate);
      const info = await verifyToken(token, digestBytes, roots);
      return { ok: true, check: '', genTime: info.genTime.seconds, signerID: info.signerID, signer: info.signer };
    } catch (e) {
      return { ok: false, check: e instanceof TokenError ? e.check : 'internal', detail: e.message };
    }
  }

  // --------------------------------------------------------------- page

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k.startsWith('data-')) e.dataset[k.slice(5).replace(/-([a-z])/g, (_, c) => c.toUpperCase())] = v;
      else e.setAttribute(k, v);
    }
    for (const c of children) e.append(c);
    return e;
  }

  function render(r) {
    const summary = document.getElementById('summary');
    summary.textContent = r.summary;
    summary.dataset.outcome = r.outcome;
    if (r.broken) summary.dataset.broken = r.broken; else delete summary.dataset.broken;
    const tbody = document.getElementById('verdicts');
    tbody.replaceChildren(...r.verdicts.map((v) => el('tr', { 'data-check': v.check, 'data-status': v.status },
      el('td', { class: 'status' }, v.status), el('td', { class: 'check' }, v.check), el('td', { class: 'detail' }, v.detail))));
    if (r.fatal) {
      tbody.replaceChildren(el('tr', { 'data-check': r.fatal.what, 'data-status': 'FAIL' },
        el('td', { class: 'status' }, 'FAIL'), el('td', { class: 'check' }, r.fatal.what), el('td', { class: 'detail' }, r.fatal.detail)));
    }
    const notes = document.getElementById('notes');
    notes.replaceChildren(...r.notes.map((n) => el('li', {}, n)));
    const timing = document.getElementById('timing');
    timing.textContent = `Verification took ${r.ms.toFixed(1)} ms in this browser (performance.now()).`;
    timing.dataset.ms = String(r.ms);
    document.getElementById('result').hidden = false;
  }

  async function readFileInto(input, area) {
    const f = input.files && input.files[0];
    if (!f) return;
    const bytes = new Uint8Array(await f.arrayBuffer());
    try {
      area.value = utf8.decode(bytes);
      area.setCustomValidity('');
    } catch (e) {
      area.value = '';
      area.setCustomValidity(`${f.name} is not UTF-8 text`);
      area.reportValidity();
    }
  }

  const fromHex = (h) => Uint8Array.from(h.match(/../g), (x) => parseInt(x, 16));

  // selfTest checks, when the page loads, that this browser's WebCrypto
  // does what the verification needs, with known answers: SHA-256 of "abc"
  // (FIPS 180-2), RFC 8032's first Ed25519 vector (and its signature with
  // one bit flipped), and an ECDSA P-256 signature. It also gets WebCrypto
  // started before the first click.
  async function selfTest() {
    const failed = [];
    try {
      if (hex(await sha256(enc.encode('abc'))) !== 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad') failed.push('SHA-256');
    } catch (e) { failed.push('SHA-256'); }
    try {
      const pub = fromHex('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a');
      const sig = fromHex('e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b');
      const bad = sig.slice();
      bad[0] ^= 1;
      if (!await ed25519Verify(pub, new Uint8Array(0), sig) || await ed25519Verify(pub, new Uint8Array(0), bad)) failed.push('Ed25519');
    } catch (e) { failed.push('Ed25519'); }
    try {
      const k = await subtle().generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']);
      const msg = enc.encode('aurora');
      const sig = await subtle().sign({ name: 'ECDSA', hash: 'SHA-256' }, k.privateKey, msg);
      if (!await subtle().verify({ name: 'ECDSA', hash: 'SHA-256' }, k.publicKey, sig, msg)) failed.push('ECDSA P-256');
    } catch (e) { failed.push('ECDSA P-256'); }
    return failed;
  }

  function wire() {
    const byId = (id) => document.getElementById(id);
    const button = byId('verify');
    if (!button) return;
    for (const [file, area] of [['bundle-file', 'bundle'], ['policy-file', 'policy'], ['roots-file', 'roots']]) {
      byId(file).addEventListener('change', () => readFileInto(byId(file), byId(area)));
    }
    let runs = 0;
    button.addEventListener('click', async () => {
      button.disabled = true;
      document.body.dataset.state = 'running';
      try {
        render(await verifyBundle(byId('bundle').value, byId('policy').value, byId('roots').value));
      } finally {
        button.disabled = false;
        document.body.dataset.runs = String(++runs);
        document.body.dataset.state = 'done';
      }
    });
    const st = byId('selftest');
    (globalThis.crypto && globalThis.crypto.subtle ? selfTest() : Promise.resolve(null)).then((failed) => {
      if (failed === null) {
        st.textContent = 'WebCrypto is unavailable here: load this page over https, from localhost or from a file.';
        st.dataset.ok = 'false';
      } else if (failed.length) {
        st.textContent = `This browser's WebCrypto failed its self-test (${failed.join(', ')}): the page cannot verify with it.`;
        st.dataset.ok = 'false';
      } else {
        st.textContent = 'WebCrypto self-test passed: SHA-256, Ed25519 (RFC 8032), ECDSA P-256.';
        st.dataset.ok = 'true';
      }
      document.body.dataset.state = 'ready';
    });
  }

  globalThis.AuroraVerify = Object.freeze({ verifyBundle, verifyToken: verifyTokenReport, links: LINKS });
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', wire);
  else wire();
})();
