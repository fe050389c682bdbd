import { isRegionName } from '../lib/couch/names.js'
import { UsageError } from '../lib/errors.js'

/** Who this engine is. On EC2 it comes from the metadata service (IMDSv2); elsewhere, from flags or env. */
export interface Identity {
  instanceId: string
  region: string
  az: string
  instanceType?: string
}

/** Where the identity comes from; `identify` fails with a clear error when it cannot tell. */
export interface IdentitySource {
  identify(): Promise<Identity>
}

const INSTANCE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/

/** A fixed identity (bare metal, a laptop, tests). */
export class StaticIdentity implements IdentitySource {
  readonly #identity: Identity
  constructor(identity: Partial<Identity>) {
    const { instanceId, region } = identity
    if (!instanceId || !INSTANCE_ID.test(instanceId)) {
      throw new UsageError(
        'an instance id is required (--instance-id or STAMPEDE_INSTANCE_ID: letters, digits, . _ -)',
      )
    }
    if (!isRegionName(region)) {
      throw new UsageError(
        'a region is required (--region or STAMPEDE_REGION: lower-case letters, digits and -)',
      )
    }
    this.#identity = {
      instanceId,
      region,
      az: identity.az ?? '',
      ...(identity.instanceType && { instanceType: identity.instanceType }),
    }
  }

  async identify(): Promise<Identity> {
    return this.#identity
  }
}
