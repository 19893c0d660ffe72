/**
 * A Dialogflow ES fake: `google.cloud.dialogflow.v2.Sessions/DetectIntent` served over gRPC from
 * the client package's own protos. It checks the session path and the query input as Dialogflow
 * does, answers scripted turns by the text it receives, and records every request as decoded.
 *
 * Audio input (`queryInput.audioConfig` + `inputAudio`): the fake's "speech recognition" reads the
 * audio bytes as UTF-8 text; `queryResult.queryText` carries the transcript back, as Dialogflow does.
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

const SESSION =
  /^projects\/[^/]+\/(locations\/[^/]+\/)?agent\/(environments\/[^/]+\/users\/[^/]+\/)?sessions\/[^/]+$/;

export interface EsQuery {
  session: string;
  /** The text, the transcript of the audio, or the event name. */
  text: string;
  kind: 'text' | 'audio' | 'event';
  languageCode: string;
  /** The event's parameters (a quick reply's payload travels there). */
  parameters?: unknown;
  /** `queryParams.payload` (what the agent's webhooks get), as plain JSON. */
  payload?: Record<string, unknown>;
}

/** A `DetectIntentResponse` in the client's shape (structs as `toStruct`), a gRPC failure, or `hang`. */
export type EsScript = (q: EsQuery) => Record<string, unknown> | GrpcFailure | 'hang';

export interface DialogflowEsFake extends GrpcFake {
  readonly requests: any[];
}

export async function startDialogflowEsFake(script: EsScript): Promise<DialogflowEsFake> {
  const service = loadService(
    '@google-cloud/dialogflow',
    'google/cloud/dialogflow/v2/session.proto',
    'google.cloud.dialogflow.v2.Sessions',
  );
  const requests: any[] = [];
  const server = await startGrpcServer(service, {
    DetectIntent(call: grpc.ServerUnaryCall<any, any>, cb: grpc.sendUnaryData<any>) {
      const req = call.request;
      requests.push(req);
      if (!SESSION.test(req.session ?? ''))
        return cb({ code: grpc.status.INVALID_ARGUMENT, details: `Invalid session path: ${req.session}` });
      const qi = req.queryInput ?? {};
      let q: EsQuery;
      if (qi.input === 'text') {
        if (!qi.text?.languageCode)
          return cb({
            code: grpc.status.INVALID_ARGUMENT,
            details: 'queryInput.text.languageCode is required',
          });
        q = {
          session: req.session,
          text: qi.text.text ?? '',
          kind: 'text',
          languageCode: qi.text.languageCode,
        };
      } else if (qi.input === 'audioConfig') {
        const c = qi.audioConfig;
        if (!c.audioEncoding || !c.sampleRateHertz || !c.languageCode || !req.inputAudio)
          return cb({
            code: grpc.status.INVALID_ARGUMENT,
            details: 'audio input needs audioEncoding, sampleRateHertz, languageCode and inputAudio',
          });
        q = {
          session: req.session,
          text: Buffer.from(req.inputAudio).toString('utf8'),
          kind: 'audio',
          languageCode: c.languageCode,
        };
      } else if (qi.input === 'event') {
        if (!qi.event?.name || !qi.event?.languageCode)
          return cb({
            code: grpc.status.INVALID_ARGUMENT,
            details: 'queryInput.event needs name and languageCode',
          });
        q = { session: req.session, text: qi.event.name, kind: 'event', languageCode: qi.event.languageCode };
        if (qi.event.parameters) q.parameters = qi.event.parameters;
      } else return cb({ code: grpc.status.INVALID_ARGUMENT, details: 'queryInput has no input' });
      if (req.queryParams?.payload) q.payload = fromStruct(req.queryParams.payload);
      const answer = script(q);
      // A Dialogflow that never answers: the call stays open until the client's deadline.
      if (answer === 'hang') return;
      if (isFailure(answer)) return cb({ code: answer.code, details: answer.details });
      const queryResult = {
        queryText: q.text,
        languageCode: q.languageCode,
        ...((answer.queryResult as object) ?? {}),
      };
      cb(null, { responseId: `resp-${requests.length}`, ...answer, queryResult });
    },
  });
  return { ...server, requests };
}
