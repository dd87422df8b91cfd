/**
 * Turns an unpacked legacy `docker save` archive (Docker < 25: <id>/layer.tar,
 * <id>.json, manifest.json) into the OCI image layout newer engines write
 * (blobs/sha256/<digest>, an OCI image manifest blob, index.json, oci-layout,
 * and optionally a Docker 25 style manifest.json naming the blobs), with the
 * layers optionally compressed. Written by hand so the tests need no registry
 * and no newer engine.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { execFileSync } from 'node:child_process';

export type LayerCompression = 'none' | 'gzip' | 'zstd';

export interface OciOptions {
  compression: LayerCompression;
  /** also write manifest.json (what Docker >= 25 writes next to index.json) */
  dockerManifest: boolean;
  /** put an image index between index.json and the manifest (multi-platform style) */
  nestedIndex?: boolean;
}

const sha = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');

export function toOciLayout(legacyDir: string, outDir: string, o: OciOptions): { layers: string[]; config: string } {
  const [img] = JSON.parse(fs.readFileSync(path.join(legacyDir, 'manifest.json'), 'utf8'));
  fs.mkdirSync(path.join(outDir, 'blobs', 'sha256'), { recursive: true });
  const blob = (b: Buffer) => {
    const d = sha(b);
    fs.writeFileSync(path.join(outDir, 'blobs', 'sha256', d), b);
    return { digest: `sha256:${d}`, size: b.length, path: `blobs/sha256/${d}` };
  };
  const layerType = { none: 'application/vnd.oci.image.layer.v1.tar', gzip: 'application/vnd.oci.image.layer.v1.tar+gzip', zstd: 'application/vnd.oci.image.layer.v1.tar+zstd' }[o.compression];
  const layers = (img.Layers as string[]).map((l) => {
    const raw = fs.readFileSync(path.join(legacyDir, l));
    const body = o.compression === 'gzip' ? zlib.gzipSync(raw) : o.compression === 'zstd' ? execFileSync('zstd', ['-q', '-c', '-'], { input: raw, maxBuffer: 1 << 30 }) : raw;
    return { mediaType: layerType, ...blob(body) };
  });
  const config = blob(fs.readFileSync(path.join(legacyDir, img.Config)));
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config.digest, size: config.size },
    layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
  }));
  const m = blob(manifest);
  const ref = (img.RepoTags?.[0] as string | undefined) ?? 'image:latest';
  let top = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: m.digest, size: m.size, platform: { architecture: 'amd64', os: 'linux' } } as Record<string, unknown>;
  if (o.nestedIndex) {
    const missing = `sha256:${'e'.repeat(64)}`; // another platform's manifest, not in the archive
    const idx = blob(Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [top, { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: missing, size: 1234, platform: { architecture: 'arm64', os: 'linux' } }],
    })));
    top = { mediaType: 'application/vnd.oci.image.index.v1+json', digest: idx.digest, size: idx.size };
  }
  fs.writeFileSync(path.join(outDir, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [{ ...top, annotations: { 'io.containerd.image.name': ref, 'org.opencontainers.image.ref.name': ref.split(':').pop() } }],
  }));
  fs.writeFileSync(path.join(outDir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  if (o.dockerManifest) {
    fs.writeFileSync(path.join(outDir, 'manifest.json'), JSON.stringify([{ Config: config.path, RepoTags: [ref], Layers: layers.map((l) => l.path) }]));
  }
  return { layers: layers.map((l) => l.path), config: config.path };
}
