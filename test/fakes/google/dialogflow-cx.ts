/**
 * A Dialogflow CX fake: `google.cloud.dialogflow.cx.v3.Sessions/DetectIntent` served over gRPC from
 * the client package's own protos. It checks what Dialogflow checks first (a well-formed session
 * path, a query input, its language), answers scripted turns by the text it receives, and records
 * every request as decoded.
 *
 * Audio input: the fake's "speech recognition" reads the audio bytes as UTF-8 text, so a test says
 * what was spoken by what it sends; `queryResult.transcript` carries it back, as Dialogflow does.
 */
import * as grpc from '@grpc/grpc-js';
import {
  type GrpcFailure,
  type GrpcFake,
  fromStruct,
  isFailure,
  loadService,
  startGrpcServer,
} from './grpc.js';

const SESSION = /^projects\/[^/]+\/locations\/[^/]+\/agents\/[^/]+\/(environments\/[^/]+\/)?sessions\/[^/]+$/;

export interface CxQuery {
  session: string;
  /** The text, the transcript of the audio, or the event name. */
  text: string;
  kind: 'text' | 'audio' | 'event';
  languageCode: string;
  /** `queryParams.payload` (what the agent's webhooks get), as plain JSON. */
  payload?: Record<string, unknown>;
}

/** A `DetectIntentResponse` in the client's shape (structs as `toStruct`), a gRPC failure, or `hang`. */
export type CxScript = (q: CxQuery) => Record<string, unknown> | GrpcFailure | 'hang';

export interface DialogflowCxFake extends GrpcFake {
  /** Every DetectIntent request, decoded. */
  readonly requests: any[];
}

export async function startDialogflowCxFake(script: CxScript): Promise<DialogflowCxFake> {
  const service = loadService(
    '@google-cloud/dialogflow-cx',
    'google/cloud/dialogflow/cx/v3/session.proto',
    'google.cloud.dialogflow.cx.v3.Sessions',
  );
  const requests: any[] = [];
  const server = await startGrpcServer(service, {
    DetectIntent(call: grpc.ServerUnaryCall<any, any>, cb: grpc.sendUnaryData<any>) {
      const req = call.request;
      requests.push(req);
      if (!SESSION.test(req.session ?? ''))
        return cb({ code: grpc.status.INVALID_ARGUMENT, details: `Invalid session path: ${req.session}` });
      const qi = req.queryInput ?? {};
      if (!qi.languageCode)
        return cb({ code: grpc.status.INVALID_ARGUMENT, details: 'queryInput.languageCode is required' });
      let q: CxQuery;
      if (qi.input === 'text')
        q = { session: req.session, text: qi.text?.text ?? '', kind: 'text', languageCode: qi.languageCode };
      else if (qi.input === 'audio') {
        if (!qi.audio?.config?.audioEncoding || !qi.audio?.audio)
          return cb({ code: grpc.status.INVALID_ARGUMENT, details: 'audio input needs config and audio' });
        q = {
          session: req.session,
          text: Buffer.from(qi.audio.audio).toString('utf8'),
          kind: 'audio',
          languageCode: qi.languageCode,
        };
      } else if (qi.input === 'event')
        q = {
          session: req.session,
          text: qi.event?.event ?? '',
          kind: 'event',
          languageCode: qi.languageCode,
        };
      else return cb({ code: grpc.status.INVALID_ARGUMENT, details: 'queryInput has no input' });
      if (req.queryParams?.payload) q.payload = fromStruct(req.queryParams.payload);
      const answer = script(q);
      // A Dialogflow that never answers: the call stays open until the client's deadline.
      if (answer === 'hang') return;
      if (isFailure(answer)) return cb({ code: answer.code, details: answer.details });
      const queryResult = {
        languageCode: q.languageCode,
        ...(q.kind === 'text'
          ? { text: q.text }
          : q.kind === 'audio'
            ? { transcript: q.text }
            : { triggerEvent: q.text }),
        ...((answer.queryResult as object) ?? {}),
      };
      cb(null, { responseId: `resp-${requests.length}`, ...answer, queryResult });
    },
  });
  return { ...server, requests };
}
