/**
 * Pure: which layers and image configs a `docker save` archive holds, read
 * from its manifests, never from a glob of file names.
 *
 * Two layouts exist:
 * - legacy (Docker < 25): manifest.json `[{Config: "<id>.json", Layers: ["<id>/layer.tar", …]}]`;
 * - OCI image layout (Docker >= 25, skopeo, buildx): index.json -> (nested
 *   indexes ->) image manifests -> config and layer blobs under
 *   blobs/<algorithm>/<hex>; Docker 25+ also writes a manifest.json whose
 *   Config and Layers name those blobs.
 * Both manifest.json and index.json are read when present and their layers
 * united, so a layer listed by either is scanned.
 */

export interface LayerRef {
  path: string;
  /** from an OCI descriptor; absent for manifest.json entries */
  mediaType?: string;
  /** false for non-filesystem blobs (attestations, artifacts): scanned as one raw file */
  tar: boolean;
}

export interface ImageLayout {
  configs: string[];
  layers: LayerRef[];
  /** image manifests found (manifest.json entries + OCI image manifests) */
  images: number;
  errors: string[];
  notes: string[];
}

/** Returns a file's text, or undefined when it does not exist. */
export type ReadText = (relPath: string) => string | undefined;

const INDEX_TYPES = ['application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json'];
const MANIFEST_TYPES = ['application/vnd.oci.image.manifest.v1+json', 'application/vnd.docker.distribution.manifest.v2+json'];

/** A relative path inside the archive, or an error text. */
export function safeRelPath(p: unknown): string | { error: string } {
  if (typeof p !== 'string' || p === '') return { error: `not a path: ${JSON.stringify(p)}` };
  if (p.startsWith('/') || p.includes('\\') || p.includes('\0')) return { error: `path outside the archive: ${JSON.stringify(p)}` };
  const parts = p.split('/').filter((x) => x !== '' && x !== '.');
  if (parts.some((x) => x === '..') || parts.length === 0) return { error: `path outside the archive: ${JSON.stringify(p)}` };
  return parts.join('/');
}

/** `sha256:<hex>` -> `blobs/sha256/<hex>`, or an error text. */
export function blobPath(digest: unknown): string | { error: string } {
  if (typeof digest !== 'string') return { error: `not a digest: ${JSON.stringify(digest)}` };
  const m = /^([a-z0-9]+(?:[+._-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$/.exec(digest);
  if (!m) return { error: `malformed digest ${JSON.stringify(digest)}` };
  if (m[1] === 'sha256' && !/^[a-f0-9]{64}$/.test(m[2])) return { error: `malformed sha256 digest ${JSON.stringify(digest)}` };
  if (m[1] === 'sha512' && !/^[a-f0-9]{128}$/.test(m[2])) return { error: `malformed sha512 digest ${JSON.stringify(digest)}` };
  return `blobs/${m[1]}/${m[2]}`;
}

function isLayerTar(mediaType: string | undefined): boolean {
  // docker rootfs diffs and OCI layers (incl. non-distributable) are tars, compressed or not
  return mediaType === undefined || /(^|[.+/])tar([.+]|$)|rootfs\.diff\.tar/.test(mediaType);
}

function parseJson(text: string, what: string, errors: string[]): any {
  try {
    return JSON.parse(text);
  } catch (e) {
    errors.push(`${what}: not JSON (${(e as Error).message})`);
    return undefined;
  }
}

export function readImageLayout(read: ReadText): ImageLayout {
  const out: ImageLayout = { configs: [], layers: [], images: 0, errors: [], notes: [] };
  const layerSeen = new Set<string>();
  const addLayer = (l: LayerRef) => {
    if (layerSeen.has(l.path)) return;
    layerSeen.add(l.path);
    out.layers.push(l);
  };
  const addConfig = (p: string) => {
    if (!out.configs.includes(p)) out.configs.push(p);
  };

  const manifestText = read('manifest.json');
  const indexText = read('index.json');
  if (manifestText === undefined && indexText === undefined) {
    out.errors.push('neither manifest.json nor index.json in the archive: not a `docker save` image archive');
    return out;
  }

  if (manifestText !== undefined) {
    const m = parseJson(manifestText, 'manifest.json', out.errors);
    if (m !== undefined && !Array.isArray(m)) out.errors.push('manifest.json: expected an array of images');
    for (const [i, img] of (Array.isArray(m) ? m : []).entries()) {
      const where = `manifest.json[${i}]`;
      if (!img || typeof img !== 'object') {
        out.errors.push(`${where}: not an object`);
        continue;
      }
      out.images++;
      const cfg = safeRelPath(img.Config);
      if (typeof cfg === 'string') addConfig(cfg);
      else out.errors.push(`${where}.Config: ${cfg.error}`);
      if (!Array.isArray(img.Layers)) {
        out.errors.push(`${where}.Layers: missing`);
        continue;
      }
      for (const l of img.Layers) {
        const p = safeRelPath(l);
        if (typeof p === 'string') addLayer({ path: p, tar: true });
        else out.errors.push(`${where}.Layers: ${p.error}`);
      }
    }
  }

  if (indexText !== undefined) {
    const idx = parseJson(indexText, 'index.json', out.errors);
    if (idx !== undefined) walkIndex(idx, 'index.json', 0, true);
  }

  function walkIndex(idx: any, where: string, depth: number, top: boolean): void {
    if (!idx || typeof idx !== 'object' || !Array.isArray(idx.manifests)) {
      out.errors.push(`${where}: no "manifests" array`);
      return;
    }
    for (const [i, d] of idx.manifests.entries()) {
      const w = `${where}.manifests[${i}]`;
      const p = blobPath(d?.digest);
      if (typeof p !== 'string') {
        out.errors.push(`${w}: ${p.error}`);
        continue;
      }
      if (d?.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest') {
        out.notes.push(`${w}: attestation manifest (no filesystem), its blobs scanned raw`);
      }
      const text = read(p);
      if (text === undefined) {
        // A multi-platform index names every platform; `docker save` may keep only one.
        if (top) out.errors.push(`${w}: blob ${p} missing`);
        else out.notes.push(`${w}: blob ${p} not in the archive (another platform), skipped`);
        continue;
      }
      const doc = parseJson(text, p, out.errors);
      if (doc === undefined) continue;
      const mt: string | undefined = d?.mediaType ?? doc.mediaType;
      const isIndex = mt ? INDEX_TYPES.includes(mt) : Array.isArray(doc.manifests);
      const isManifest = mt ? MANIFEST_TYPES.includes(mt) : Array.isArray(doc.layers);
      if (isIndex) {
        if (depth >= 4) out.errors.push(`${w}: indexes nested too deep`);
        else walkIndex(doc, p, depth + 1, false);
      } else if (isManifest) {
        walkManifest(doc, p, d?.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest');
      } else {
        out.errors.push(`${w}: unknown media type ${JSON.stringify(mt)}`);
      }
    }
  }

  function walkManifest(m: any, where: string, attestation: boolean): void {
    out.images++;
    const cfg = blobPath(m?.config?.digest);
    if (typeof cfg === 'string') addConfig(cfg);
    else out.errors.push(`${where}.config: ${cfg.error}`);
    if (!Array.isArray(m?.layers)) {
      out.errors.push(`${where}: no "layers" array`);
      return;
    }
    for (const [i, l] of m.layers.entries()) {
      const p = blobPath(l?.digest);
      if (typeof p !== 'string') {
        out.errors.push(`${where}.layers[${i}]: ${p.error}`);
        continue;
      }
      const mediaType = typeof l?.mediaType === 'string' ? l.mediaType : undefined;
      addLayer({ path: p, mediaType, tar: !attestation && isLayerTar(mediaType) });
    }
  }

  if (out.layers.length === 0 && out.errors.length === 0) {
    out.errors.push(`zero layers listed (${out.images} image manifest(s) read): nothing to scan`);
  }
  return out;
}
