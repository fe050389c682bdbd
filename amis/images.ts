import { StampedeError } from '../lib/errors.js'

/**
 * Which image an engine launches from. The controller passes `imageId` to RunInstances as is:
 * EC2 resolves `resolve:ssm:` names itself at launch, so the stock image is always the newest
 * Amazon Linux 2023 without a lookup of ours.
 *
 * - stock: Amazon Linux 2023 by its public SSM parameter, with the full user-data
 *   (cloud-init/render.ts, image 'stock': fetch, check and install the release).
 * - baked: an image built by amis/engine.pkr.hcl (release installed), with the short
 *   user-data (image 'baked': configuration only). Boots a minute or so faster.
 */
export type EngineArch = 'x64' | 'arm64'

export const STOCK_IMAGE_PARAMETERS: Record<EngineArch, string> = {
  x64: '/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64',
  arm64: '/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64',
}

export type EngineImage = { kind: 'stock'; imageId: string } | { kind: 'baked'; imageId: string }

/** The stock image of an architecture, as RunInstances takes it. */
export function stockImage(arch: EngineArch = 'x64'): EngineImage {
  return { kind: 'stock', imageId: `resolve:ssm:${STOCK_IMAGE_PARAMETERS[arch]}` }
}

/** A baked image (an AMI id, or a resolve:ssm: name the operator keeps pointed at the latest bake). */
export function bakedImage(imageId: string): EngineImage {
  if (!/^(ami-[0-9a-f]{8,17}|resolve:ssm:\/?[A-Za-z0-9_.\-/]+)$/.test(imageId)) {
    throw new StampedeError(
      'STAMPEDE_IMAGE',
      `"${imageId}" is neither an AMI id (ami-…) nor resolve:ssm:<parameter>`,
    )
  }
  return { kind: 'baked', imageId }
}
