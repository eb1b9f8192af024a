/**
 * NBD wire knowledge for Strata: constants, message records, Netty codecs, and a small
 * blocking client. No engine, no policy.
 *
 * <h2>Messages</h2>
 * <ul>
 *   <li>Client handshake: {@link dev.strata.nbd.protocol.NbdClientFlags}, {@link dev.strata.nbd.protocol.NbdOption}
 *       (sealed; includes the decoder verdicts {@code Unknown}, {@code TooBig}, {@code Invalid}).</li>
 *   <li>Server handshake: {@link dev.strata.nbd.protocol.NbdServerGreeting},
 *       {@link dev.strata.nbd.protocol.NbdOptionReply} (with {@link dev.strata.nbd.protocol.NbdInfo}),
 *       {@link dev.strata.nbd.protocol.NbdExportNameReply}.</li>
 *   <li>Transmission: {@link dev.strata.nbd.protocol.NbdRequest} (and the
 *       {@link dev.strata.nbd.protocol.NbdOversizedWrite} event), {@link dev.strata.nbd.protocol.NbdSimpleReply},
 *       {@link dev.strata.nbd.protocol.NbdReplyChunk} (with {@link dev.strata.nbd.protocol.NbdExtent}).</li>
 * </ul>
 *
 * <h2>Server pipeline (what the daemon builds)</h2>
 * <pre>{@code
 * ch.pipeline()
 *   .addLast("nbd-decoder", new NbdHandshakeDecoder())   // -> NbdClientFlags, NbdOption
 *   .addLast(new NbdHandshakeEncoder())                  // <- greeting, option replies, export-name reply
 *   .addLast(new NbdReplyEncoder())                      // <- NbdSimpleReply, NbdReplyChunk (FileRegions pass through)
 *   .addLast(new YourSessionHandler());
 * // channelActive: write NbdServerGreeting.fixedNewstyle()
 * // successful GO / EXPORT_NAME (decoder is paused meanwhile):
 * ch.pipeline().replace("nbd-decoder", "nbd-decoder", new NbdRequestDecoder(maxPayload));
 * // failed GO, refused STARTTLS: ((NbdHandshakeDecoder) ...).resumeOptions();
 * // NbdBadMagicException in exceptionCaught: close the channel.
 * }</pre>
 * Both encoders are {@code @Sharable}; the decoders are per connection. Zero-copy reads: see
 * {@link dev.strata.nbd.protocol.NbdReplyEncoder}. The test class {@code MiniNbdServer} is a
 * complete (in-memory, event-loop-bound) example.
 *
 * <h2>Client</h2>
 * {@link dev.strata.nbd.protocol.NbdClient#connect(NbdUri, NbdClientOptions)} negotiates
 * structured replies, meta contexts and GO (falling back to EXPORT_NAME), then offers blocking
 * {@code read}, {@code write}, {@code writeZeroes}, {@code trim}, {@code flush},
 * {@code blockStatus}, {@code disconnect}; static {@code listExports} and {@code listMetaContexts}.
 * Its codecs are {@link dev.strata.nbd.protocol.NbdOptionEncoder},
 * {@link dev.strata.nbd.protocol.NbdHandshakeReplyDecoder}, {@link dev.strata.nbd.protocol.NbdRequestEncoder}
 * and {@link dev.strata.nbd.protocol.NbdReplyDecoder}.
 */
package dev.strata.nbd.protocol;
