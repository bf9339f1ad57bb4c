using System.Security.Cryptography;
using System.Text;
using Google.Protobuf;
using HsmVault.Crypto;
using HsmVault.Crypto.Channel;
using HsmVault.Crypto.Opaque;
using HsmVault.Protocol;
using HsmVault.Protocol.Merkle;
using HsmVault.Protocol.V1;

namespace HsmVault.Enclave;

/// <summary>
/// The vault's operations on one batch. Each handler checks everything it was given before it
/// changes the batch's tree, so a rejected operation leaves no trace; a handler that counts a
/// guess writes the incremented counter into the batch before it builds its answer, and the
/// batch is committed to NVRAM before any answer leaves the enclave.
/// </summary>
internal sealed class VaultOperations
{
    private static ReadOnlySpan<byte> FakeRecordLabel => "HsmVault-v1 fake record"u8;

    private static ReadOnlySpan<byte> FakeNonceLabel => "HsmVault-v1 fake credential nonce"u8;

    private readonly IHsmServices _hsm;
    private readonly VaultPolicy _policy;
    private readonly OpaqueServer _opaque;
    private readonly ECDsa? _operatorKey;
    private readonly HsmChannelKey _channelKey;
    private readonly HsmRandomSource _random;

    public VaultOperations(IHsmServices hsm, VaultPolicy policy)
    {
        _hsm = hsm;
        _policy = policy;
        var configuration = new OpaqueConfiguration(Encoding.UTF8.GetBytes(policy.OpaqueContext), IdentityKsf.Instance);
        _random = new HsmRandomSource(hsm);
        _opaque = new OpaqueServer(configuration, new HsmAkeKey(hsm), new HsmOprfSeed(hsm), _random);
        _channelKey = new HsmChannelKey(hsm);
        if (policy.OperatorPublicKey is { } key)
        {
            _operatorKey = ECDsa.Create(new ECParameters
            {
                Curve = ECCurve.NamedCurves.nistP256,
                Q = new ECPoint { X = key[1..33], Y = key[33..65] },
            });
        }
    }

    public OperationResult Apply(BatchContext batch, Operation operation)
    {
        ulong requestId = operation.Client?.RequestId ?? 0;
        try
        {
            return operation.BodyCase switch
            {
                Operation.BodyOneofCase.Client => ApplyClient(batch, operation.Tag, operation.Client!, operation.Witness),
                Operation.BodyOneofCase.OperatorDelete => OperatorDelete(batch, operation.Tag, operation.OperatorDelete!, operation.Witness),
                _ => OperationResults.ClientError(operation.Tag, requestId, ErrorCode.BadRequest, "operation.body", "missing"),
            };
        }
        catch (MerkleProofException ex)
        {
            return ex.Error == MerkleProofError.MissingNode
                ? OperationResults.Stale(operation.Tag, requestId, ex.Message)
                : OperationResults.Corrupt(operation.Tag, requestId, ex.Message);
        }
    }

    // Everything but the user id comes through the channel: a request that does not open gets a
    // clear error and changes nothing; one that opens is answered only inside the channel.
    private OperationResult ApplyClient(BatchContext batch, ulong tag, ClientRequest request, RecordWitness? witness)
    {
        ulong id = request.RequestId;
        if (CheckUserId(tag, id, request.UserId, ClientRequest.UserIdField) is { } invalid)
        {
            return invalid;
        }

        byte[] userId = request.UserId.ToByteArray();
        if (!VaultChannel.TryOpenRequest(_channelKey, userId, request.EncapsulatedKey.Span, request.SealedRequest.Span, out byte[] plaintext, out ChannelResponder? responder))
        {
            return OperationResults.ClientError(tag, id, ErrorCode.BadRequest, ClientRequest.SealedRequestField, "does not open under the fleet's channel key for this user id");
        }

        using (responder!)
        {
            ClientAnswer answer;
            try
            {
                answer = Dispatch(batch, userId, VaultRequest.Parser.ParseFrom(plaintext), witness);
            }
            catch (InvalidProtocolBufferException)
            {
                answer = ClientAnswer.Error(ErrorCode.BadRequest, ClientRequest.SealedRequestField, "the plaintext is not a VaultRequest");
            }
            finally
            {
                CryptographicOperations.ZeroMemory(plaintext);
            }

            if (answer.Response is null)
            {
                return new OperationResult { Tag = tag, Outcome = answer.Outcome, Detail = answer.Detail };
            }

            byte[] response = answer.Response.ToByteArray();
            byte[] sealedResponse = responder!.Seal(response, _random);
            CryptographicOperations.ZeroMemory(response);
            return new OperationResult
            {
                Tag = tag,
                Outcome = answer.Outcome,
                Client = new ClientResponse { RequestId = id, SealedResponse = ByteString.CopyFrom(sealedResponse) },
            };
        }
    }

    private ClientAnswer Dispatch(BatchContext batch, byte[] userId, VaultRequest request, RecordWitness? witness) => request.OperationCase switch
    {
        VaultRequest.OperationOneofCase.RegisterStart => RegisterStart(batch, userId, request.RegisterStart),
        VaultRequest.OperationOneofCase.RegisterFinish => RegisterFinish(batch, userId, request.RegisterFinish, witness),
        VaultRequest.OperationOneofCase.LoginStart => LoginStart(batch, userId, request.LoginStart, witness),
        VaultRequest.OperationOneofCase.LoginFinish => LoginFinish(batch, userId, request.LoginFinish, witness),
        VaultRequest.OperationOneofCase.Status => Status(batch, userId, witness),
        _ => ClientAnswer.Error(ErrorCode.BadRequest, "operation", "no operation set"),
    };

    private ClientAnswer RegisterStart(BatchContext batch, byte[] userId, RegisterStart request)
    {
        byte[] nonce = new byte[VaultRecord.NonceBytes];
        _hsm.GetRandom(nonce);
        byte[] response;
        try
        {
            response = _opaque.CreateRegistrationResponse(request.RegistrationRequest.Span, VaultRecord.CredentialIdentifierFor(nonce, userId));
        }
        catch (ArgumentException ex)
        {
            return BadCrypto("register_start.registration_request", ex);
        }

        var ticket = new RegistrationTicket(nonce, batch.Committed.LogIndex);
        return ClientAnswer.Ok(new VaultResponse
        {
            RegisterStarted = new RegisterStarted
            {
                RegistrationResponse = ByteString.CopyFrom(response),
                RegistrationSession = ByteString.CopyFrom(ticket.Seal(_hsm, userId)),
            },
        });
    }

    private ClientAnswer RegisterFinish(BatchContext batch, byte[] userId, RegisterFinish request, RecordWitness? witness)
    {
        RegistrationTicket? ticket = RegistrationTicket.TryUnseal(_hsm, userId, request.RegistrationSession.Span);
        if (ticket is null)
        {
            return ClientAnswer.Error(ErrorCode.BadRequest, "register_finish.registration_session", "not a registration session issued for this user");
        }

        byte[] record;
        try
        {
            record = RegistrationRecord.Parse(request.RegistrationRecord.Span).ToBytes();
        }
        catch (ArgumentException ex)
        {
            return BadCrypto("register_finish.registration_record", ex);
        }

        if (request.EncryptedKeyBlob.IsEmpty)
        {
            return ClientAnswer.Error(ErrorCode.BadRequest, "register_finish.encrypted_key_blob", "empty");
        }

        if (request.EncryptedKeyBlob.Length > _policy.MaxKeyBlobBytes)
        {
            return ClientAnswer.Error(ErrorCode.TooLarge, "register_finish.encrypted_key_blob", $"{request.EncryptedKeyBlob.Length} bytes, at most {_policy.MaxKeyBlobBytes}");
        }

        RecordLookup lookup = Lookup(batch, userId, witness);
        if (lookup.Outcome is WitnessOutcome.Stale or WitnessOutcome.Corrupt)
        {
            return ClientAnswer.FromLookup(lookup);
        }

        // Any write to the user since the ticket was issued (including this very upload, or a
        // deletion) makes the ticket stale, so a captured upload cannot reset a record later.
        if (lookup.Version > ticket.IssuedAtIndex)
        {
            return ClientAnswer.Error(ErrorCode.Stale, "register_finish.registration_session", "the user's record changed since this registration started; start again");
        }

        // Registering over a live record replaces it: the new record has a new OPRF key, so
        // nothing learned against the old one carries over. Who may register a user id is the
        // application's decision (the host authenticates the account before relaying).
        var fresh = new VaultRecord(0, ticket.Nonce, record, request.EncryptedKeyBlob.ToByteArray());
        batch.Write(userId, MerkleHashing.UserKey(userId), fresh.Seal(_hsm, userId, batch.Version));
        return ClientAnswer.Ok(new VaultResponse { Registered = new Registered() });
    }

    private ClientAnswer LoginStart(BatchContext batch, byte[] userId, LoginStart request, RecordWitness? witness)
    {
        RecordLookup lookup = Lookup(batch, userId, witness);
        if (lookup.Outcome is WitnessOutcome.Stale or WitnessOutcome.Corrupt)
        {
            return ClientAnswer.FromLookup(lookup);
        }

        byte[] serverIdentity = _hsm.AkePublicKey;
        VaultRecord? record = lookup.Record;
        bool exhausted = record is not null && record.AttemptsUsed >= _policy.AttemptLimit;
        byte[] ke2;
        ServerLoginState state;
        try
        {
            if (record is null || exhausted)
            {
                // RFC 9807 §10.9: answer an unknown user with a KE2 from a fake record derived
                // from the user id, so KE2 does not reveal whether the user is registered.
                byte[] fakeSeed = _hsm.Hmac(HsmHmacKey.FakeRecordSeed, [.. FakeRecordLabel, .. userId]);
                byte[] fakeNonce = _hsm.Hmac(HsmHmacKey.FakeRecordSeed, [.. FakeNonceLabel, .. userId]);
                RegistrationRecord fake = RegistrationRecord.CreateFake(fakeSeed);
                ke2 = _opaque.GenerateKE2(request.Ke1.Span, fake, VaultRecord.CredentialIdentifierFor(fakeNonce, userId), serverIdentity, userId, out state);
            }
            else
            {
                ke2 = _opaque.GenerateKE2(request.Ke1.Span, RegistrationRecord.Parse(record.RegistrationRecord), record.CredentialIdentifier(userId), serverIdentity, userId, out state);
            }
        }
        catch (ArgumentException ex)
        {
            // Malformed KE1: nothing was written, so no guess is counted.
            return BadCrypto("login_start.ke1", ex);
        }

        byte[] serverState = state.ToBytes();
        state.Dispose();
        LoginSession session;
        byte[] key = MerkleHashing.UserKey(userId);
        if (record is null)
        {
            session = new LoginSession(true, batch.Version, serverState);
        }
        else if (exhausted)
        {
            // The record ran out of guesses earlier and its last login never finished: destroy it now.
            Bury(batch, userId);
            session = new LoginSession(true, batch.Version, serverState);
        }
        else
        {
            // Count the guess: the incremented counter is part of this batch, which is committed
            // to NVRAM before KE2 is released.
            VaultRecord counted = record with { AttemptsUsed = record.AttemptsUsed + 1 };
            batch.Write(userId, key, counted.Seal(_hsm, userId, batch.Version));
            session = new LoginSession(false, batch.Version, serverState);
        }

        byte[] sealedSession = session.Seal(_hsm, userId);
        CryptographicOperations.ZeroMemory(serverState);
        return ClientAnswer.Ok(new VaultResponse
        {
            LoginStarted = new LoginStarted { Ke2 = ByteString.CopyFrom(ke2), LoginSession = ByteString.CopyFrom(sealedSession) },
        });
    }

    private ClientAnswer LoginFinish(BatchContext batch, byte[] userId, LoginFinish request, RecordWitness? witness)
    {
        if (request.Action is not (LoginAction.Recover or LoginAction.Delete))
        {
            return ClientAnswer.Error(ErrorCode.BadRequest, "login_finish.action", "must be LOGIN_ACTION_RECOVER or LOGIN_ACTION_DELETE");
        }

        LoginSession? session = LoginSession.TryUnseal(_hsm, userId, request.LoginSession.Span);
        if (session is null)
        {
            return ClientAnswer.Error(ErrorCode.BadRequest, "login_finish.login_session", "not a login session issued for this user");
        }

        try
        {
            if (session.IsFake)
            {
                return ClientAnswer.Error(ErrorCode.AuthFailed, "login_finish.ke3", "authentication failed");
            }

            RecordLookup lookup = Lookup(batch, userId, witness);
            if (lookup.Outcome is WitnessOutcome.Stale or WitnessOutcome.Corrupt)
            {
                return ClientAnswer.FromLookup(lookup);
            }

            if (lookup.Record is not { } record || lookup.Version != session.RecordVersion)
            {
                return ClientAnswer.Error(ErrorCode.Stale, "login_finish.login_session", "the record changed since this login started; start again");
            }

            byte[] sessionKey;
            using (ServerLoginState state = ServerLoginState.FromBytes(session.ServerState))
            {
                try
                {
                    sessionKey = _opaque.ServerFinish(state, request.Ke3.Span);
                }
                catch (OpaqueAuthenticationException)
                {
                    return AuthenticationFailed(batch, userId, record);
                }
                catch (ArgumentException ex)
                {
                    return BadCrypto("login_finish.ke3", ex);
                }
            }

            try
            {
                byte[] key = MerkleHashing.UserKey(userId);
                if (request.Action == LoginAction.Delete)
                {
                    Bury(batch, userId);
                    return ClientAnswer.Ok(new VaultResponse { Deleted = new Deleted() });
                }

                VaultRecord reset = record with { AttemptsUsed = 0 };
                batch.Write(userId, key, reset.Seal(_hsm, userId, batch.Version));
                byte[] wrapped = RecoveredBlobCipher.Seal(sessionKey, userId, record.KeyBlob);
                return ClientAnswer.Ok(new VaultResponse
                {
                    Recovered = new Recovered { SealedKeyBlob = ByteString.CopyFrom(wrapped) },
                });
            }
            finally
            {
                CryptographicOperations.ZeroMemory(sessionKey);
            }
        }
        finally
        {
            CryptographicOperations.ZeroMemory(session.ServerState);
        }
    }

    private ClientAnswer AuthenticationFailed(BatchContext batch, byte[] userId, VaultRecord record)
    {
        uint left = record.AttemptsUsed >= _policy.AttemptLimit ? 0 : (uint)_policy.AttemptLimit - record.AttemptsUsed;
        if (left == 0)
        {
            // The last allowed guess failed: the record is destroyed for good.
            Bury(batch, userId);
        }

        return ClientAnswer.Error(ErrorCode.AuthFailed, "login_finish.ke3", "authentication failed", left);
    }

    private ClientAnswer Status(BatchContext batch, byte[] userId, RecordWitness? witness)
    {
        RecordLookup lookup = Lookup(batch, userId, witness);
        if (lookup.Outcome is WitnessOutcome.Stale or WitnessOutcome.Corrupt)
        {
            return ClientAnswer.FromLookup(lookup);
        }

        if (lookup.Record is not { } record || record.AttemptsUsed >= _policy.AttemptLimit)
        {
            return ClientAnswer.Error(ErrorCode.NotRegistered, "status", "no record for this user");
        }

        return ClientAnswer.Ok(new VaultResponse
        {
            Status = new StatusReport { AttemptsLeft = (uint)_policy.AttemptLimit - record.AttemptsUsed, AttemptLimit = (uint)_policy.AttemptLimit },
        });
    }

    private OperationResult OperatorDelete(BatchContext batch, ulong tag, OperatorDelete request, RecordWitness? witness)
    {
        if (_operatorKey is null)
        {
            return OperationResults.Unauthorized(tag, "operator deletion is disabled by the policy");
        }

        if (request.UserId.IsEmpty || request.UserId.Length > _policy.MaxUserIdBytes)
        {
            return OperationResults.Unauthorized(tag, "operator_delete.user_id: empty or too long");
        }

        byte[] userId = request.UserId.ToByteArray();
        byte[] statement = OperatorDeleteStatement.ToSign(userId, request.MaxRecordVersion);
        if (request.Signature.Length != 64
            || !_operatorKey.VerifyData(statement, request.Signature.Span, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation))
        {
            return OperationResults.Unauthorized(tag, "operator_delete.signature: does not verify under the policy's operator key");
        }

        RecordLookup lookup = Lookup(batch, userId, witness);
        switch (lookup.Outcome)
        {
            case WitnessOutcome.Stale:
                return OperationResults.Stale(tag, 0, lookup.Detail);
            case WitnessOutcome.Corrupt:
                return OperationResults.Corrupt(tag, 0, lookup.Detail);
            case WitnessOutcome.Absent:
                return new OperationResult { Tag = tag, Outcome = OperationOutcome.OutcomeOk, Detail = "no record to delete" };
        }

        if (lookup.Version > request.MaxRecordVersion)
        {
            return OperationResults.Unauthorized(tag, $"operator_delete.max_record_version: the record (version {lookup.Version}) is newer than the authorisation");
        }

        Bury(batch, userId);
        return new OperationResult { Tag = tag, Outcome = OperationOutcome.OutcomeOk, Detail = "deleted" };
    }

    // Destroys a record for good: the key blob is gone, the leaf stays as a tombstone so its
    // version keeps rising and nothing older can be replayed into it.
    private void Bury(BatchContext batch, byte[] userId) =>
        batch.Write(userId, MerkleHashing.UserKey(userId), VaultRecord.Tombstone.Seal(_hsm, userId, batch.Version));

    // Checks what the host claims about a user against the batch's current root.
    private RecordLookup Lookup(BatchContext batch, ReadOnlySpan<byte> userId, RecordWitness? witness)
    {
        if (witness?.Proof is null)
        {
            return RecordLookup.Stale("witness: missing; this operation needs the user's record or a non-membership proof");
        }

        byte[] key = MerkleHashing.UserKey(userId);
        if (batch.WasWritten(key))
        {
            return RecordLookup.Stale("witness: this user was already written in this batch; resubmit in the next one");
        }

        SparseMerkleTree.AddProof(batch.Scratch, key, witness.Proof);
        byte[]? valueHash = batch.Tree.Find(key);
        if (witness.Record is null)
        {
            return valueHash is null ? RecordLookup.Absent : RecordLookup.Stale("witness: claims no record, but the tree holds one");
        }

        if (valueHash is null)
        {
            return RecordLookup.Stale("witness: supplies a record, but the tree holds none for this user");
        }

        if (!MerkleHashing.RecordValueHash(witness.Record).AsSpan().SequenceEqual(valueHash))
        {
            return RecordLookup.Stale("witness.record: not the record the tree holds for this user (old, replayed or another user's)");
        }

        VaultRecord? record = VaultRecord.TryUnseal(_hsm, userId, witness.Record);
        if (record is null)
        {
            return RecordLookup.Corrupt("witness.record: matches the tree but does not unseal for this user and version");
        }

        return record.IsTombstone ? RecordLookup.Buried(witness.Record.Version) : RecordLookup.Found(record, witness.Record);
    }

    private OperationResult? CheckUserId(ulong tag, ulong id, ByteString userId, string field)
    {
        if (userId.IsEmpty)
        {
            return OperationResults.ClientError(tag, id, ErrorCode.BadRequest, field, "missing");
        }

        if (userId.Length > _policy.MaxUserIdBytes)
        {
            return OperationResults.ClientError(tag, id, ErrorCode.TooLarge, field, $"{userId.Length} bytes, at most {_policy.MaxUserIdBytes}");
        }

        return null;
    }

    private static ClientAnswer BadCrypto(string field, ArgumentException ex)
    {
        string reason = ex is CryptoFormatException format ? format.Reason : "malformed";
        return ClientAnswer.Error(ErrorCode.BadRequest, field, reason);
    }
}
