import type Nano from 'nano'
import { DATA_ATTACHMENT, type DataDoc, dataDocId, type StoredData } from '../documents.js'
import { couchFailure, statusOf, tryWrite } from './client.js'

type Db = Nano.DocumentScope<unknown>

/**
 * A transaction's data rows in a region's dispatch database: one `data:<rush>` document with
 * the rows as its attachment (see `DataDoc`). Written by `submitRush` before the shards,
 * read by each engine that runs one of the rush's shards.
 */
export function dataDoc(rush: string, data: StoredData, rows: Buffer): DataDoc {
  return {
    _id: dataDocId(rush),
    type: 'data',
    rush,
    name: data.name,
    columns: data.columns,
    rows: data.rows,
    // Inline (base64) in the one write: CouchDB stores it as an attachment, outside the JSON body.
    _attachments: {
      [DATA_ATTACHMENT]: { content_type: 'application/json', data: rows.toString('base64') },
    },
  }
}

/** Writes the document; one already there (a repeated submission's) counts as written. */
export async function writeData(db: Db, doc: DataDoc): Promise<void> {
  await tryWrite(db, doc)
}

/**
 * The rows as stored (a JSON array), or undefined while `data:<rush>` has not reached this
 * region (replication may deliver the shard first).
 */
export async function readDataRows(db: Db, rush: string): Promise<Buffer | undefined> {
  try {
    return await db.attachment.get(dataDocId(rush), DATA_ATTACHMENT)
  } catch (err) {
    if (statusOf(err) === 404) return undefined
    throw couchFailure(err, `reading the data rows of rush ${rush} from ${db.config.db}`)
  }
}
