// A Solana JSON-RPC endpoint as @solana/kit, the official JavaScript SDK, uses it:
// what a wallet (balances, token accounts, sending and confirming), an explorer
// (blocks, transactions in jsonParsed, signature lists with memos) and an auditor
// (full transaction meta, program accounts, supplies) ask.
//
//   SOLANA_RPC_URL=http://127.0.0.1:8899 [SOLANA_WS_URL=ws://127.0.0.1:8900] npm test
//
// tests/programs/test_solana_kit.py runs it against the embedded ledger, with
// GTX_LEDGER=embedded (checks of its own, and the deliberate differences skipped),
// GTX_FIXTURE (a GridTokenX deployment it made: mints, an attestation, a settlement)
// and GTX_READONLY_RPC_URL (the same ledger served read-only). Pointed at a real
// validator (solana-test-validator, with a faucet), the same checks run there.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';

import {
    address,
    airdropFactory,
    appendTransactionMessageInstructions,
    compileTransactionMessage,
    createSolanaRpc,
    createSolanaRpcSubscriptions,
    createTransactionMessage,
    generateKeyPairSigner,
    getBase64Decoder,
    getBase64EncodedWireTransaction,
    getCompiledTransactionMessageEncoder,
    getSignatureFromTransaction,
    isSolanaError,
    lamports,
    pipe,
    sendAndConfirmTransactionFactory,
    setTransactionMessageFeePayerSigner,
    setTransactionMessageLifetimeUsingBlockhash,
    signTransactionMessageWithSigners,
    SOLANA_ERROR__INSTRUCTION_ERROR__CUSTOM,
    SOLANA_ERROR__JSON_RPC__METHOD_NOT_FOUND,
    SOLANA_ERROR__JSON_RPC__INVALID_REQUEST,
    SOLANA_ERROR__JSON_RPC__SERVER_ERROR_SEND_TRANSACTION_PREFLIGHT_FAILURE,
    SOLANA_ERROR__TRANSACTION_ERROR__INSUFFICIENT_FUNDS_FOR_RENT,
} from '@solana/kit';
import { estimateComputeUnitLimitFactory } from '@solana-program/compute-budget';
import { getAddMemoInstruction } from '@solana-program/memo';
import { getCreateAccountInstruction, getTransferSolInstruction } from '@solana-program/system';
import {
    fetchMint,
    fetchToken,
    findAssociatedTokenPda,
    getApproveCheckedInstruction,
    getCreateAssociatedTokenIdempotentInstructionAsync,
    getInitializeMint2Instruction,
    getMintSize,
    getMintToCheckedInstruction,
    getTransferCheckedInstruction,
    TOKEN_PROGRAM_ADDRESS,
} from '@solana-program/token';

const RPC_URL = process.env.SOLANA_RPC_URL;
if (!RPC_URL) {
    throw new Error('set SOLANA_RPC_URL (and SOLANA_WS_URL if it is not the RPC port + 1)');
}
const WS_URL = process.env.SOLANA_WS_URL ?? validatorWebsocketUrl(RPC_URL);
const EMBEDDED = process.env.GTX_LEDGER === 'embedded';
const FIXTURE = process.env.GTX_FIXTURE ? JSON.parse(readFileSync(process.env.GTX_FIXTURE, 'utf8')) : null;
const READONLY_URL = process.env.GTX_READONLY_RPC_URL;

// What differs on the embedded ledger on purpose (docs/architecture.md, "The ledger").
const ONLY_ON_A_VALIDATOR = EMBEDDED && 'the embedded ledger differs here on purpose';
const ONLY_EMBEDDED = !EMBEDDED && 'checks the embedded ledger itself (GTX_LEDGER=embedded)';
const NEEDS_FIXTURE = !FIXTURE && 'needs GTX_FIXTURE, the GridTokenX deployment the pytest runner makes';

// The memo program every cluster has (the SDK's default address is a newer one).
const MEMO_PROGRAM = address('MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr');
const SOL = 1_000_000_000n;
const DECIMALS = 6;
const MEMO_TEXT = 'gtx kit: a transfer with a memo';

function validatorWebsocketUrl(url) {
    const ws = new URL(url);
    ws.protocol = ws.protocol === 'https:' ? 'wss:' : 'ws:';
    if (ws.port) ws.port = String(Number(ws.port) + 1);
    return ws.toString();
}

const rpc = createSolanaRpc(RPC_URL);
const rpcSubscriptions = createSolanaRpcSubscriptions(WS_URL);
const airdrop = airdropFactory({ rpc, rpcSubscriptions });
const sendAndConfirm = sendAndConfirmTransactionFactory({ rpc, rpcSubscriptions });
const estimateComputeUnitLimit = estimateComputeUnitLimitFactory({ rpc });

async function message(payer, instructions) {
    const { value: blockhash } = await rpc.getLatestBlockhash().send();
    return pipe(
        createTransactionMessage({ version: 0 }),
        m => setTransactionMessageFeePayerSigner(payer, m),
        m => setTransactionMessageLifetimeUsingBlockhash(blockhash, m),
        m => appendTransactionMessageInstructions(instructions, m),
    );
}

async function send(payer, instructions) {
    const signed = await signTransactionMessageWithSigners(await message(payer, instructions));
    await sendAndConfirm(signed, { commitment: 'confirmed' });
    return getSignatureFromTransaction(signed);
}

async function getTransaction(signature, encoding) {
    return await rpc
        .getTransaction(signature, { encoding, commitment: 'confirmed', maxSupportedTransactionVersion: 0 })
        .send();
}

// A wallet's world, made through the SDK: a funded payer, a mint, two token accounts.
const world = {};

before(async () => {
    world.payer = await generateKeyPairSigner();
    world.friend = await generateKeyPairSigner();
    world.delegate = await generateKeyPairSigner();
    world.mint = await generateKeyPairSigner();
    world.airdrop = await airdrop({
        commitment: 'confirmed',
        lamports: lamports(10n * SOL),
        recipientAddress: world.payer.address,
    });
    const rent = await rpc.getMinimumBalanceForRentExemption(BigInt(getMintSize())).send();
    world.createMint = await send(world.payer, [
        getCreateAccountInstruction({
            payer: world.payer,
            newAccount: world.mint,
            lamports: rent,
            space: getMintSize(),
            programAddress: TOKEN_PROGRAM_ADDRESS,
        }),
        getInitializeMint2Instruction({
            mint: world.mint.address,
            decimals: DECIMALS,
            mintAuthority: world.payer.address,
            freezeAuthority: world.payer.address,
        }),
    ]);
    [world.payerToken] = await findAssociatedTokenPda({
        owner: world.payer.address,
        mint: world.mint.address,
        tokenProgram: TOKEN_PROGRAM_ADDRESS,
    });
    [world.friendToken] = await findAssociatedTokenPda({
        owner: world.friend.address,
        mint: world.mint.address,
        tokenProgram: TOKEN_PROGRAM_ADDRESS,
    });
    world.createAccounts = await send(world.payer, [
        await getCreateAssociatedTokenIdempotentInstructionAsync({
            payer: world.payer,
            owner: world.payer.address,
            mint: world.mint.address,
        }),
        await getCreateAssociatedTokenIdempotentInstructionAsync({
            payer: world.payer,
            owner: world.friend.address,
            mint: world.mint.address,
        }),
        getMintToCheckedInstruction({
            mint: world.mint.address,
            token: world.payerToken,
            mintAuthority: world.payer,
            amount: 1_000_000_000n,
            decimals: DECIMALS,
        }),
    ]);
    world.transfer = await send(world.payer, [
        getTransferCheckedInstruction({
            source: world.payerToken,
            mint: world.mint.address,
            destination: world.friendToken,
            authority: world.payer,
            amount: 250_000_000n,
            decimals: DECIMALS,
        }),
        getAddMemoInstruction({ memo: MEMO_TEXT }, { programAddress: MEMO_PROGRAM }),
    ]);
    world.approve = await send(world.payer, [
        getApproveCheckedInstruction({
            source: world.payerToken,
            mint: world.mint.address,
            delegate: world.delegate.address,
            owner: world.payer,
            amount: 100_000_000n,
            decimals: DECIMALS,
        }),
    ]);
});

after(() => {
    // Let the websocket channels close once their last subscription has ended.
});

describe('the node', () => {
    test('version, health, identity, genesis hash', async () => {
        const version = await rpc.getVersion().send();
        assert.match(version['solana-core'], /^\d+\.\d+\.\d+/);
        assert.equal(await rpc.getHealth().send(), 'ok');
        const { identity } = await rpc.getIdentity().send();
        assert.equal(typeof identity, 'string');
        const genesis = await rpc.getGenesisHash().send();
        assert.equal(genesis, await rpc.getGenesisHash().send());
    });

    test('slots, block height and epoch agree', async () => {
        const slot = await rpc.getSlot({ commitment: 'confirmed' }).send();
        const height = await rpc.getBlockHeight({ commitment: 'confirmed' }).send();
        const epoch = await rpc.getEpochInfo({ commitment: 'confirmed' }).send();
        assert.ok(slot > 0n);
        assert.ok(height > 0n && height <= slot);
        assert.ok(epoch.absoluteSlot >= slot);
        assert.ok(epoch.slotIndex < epoch.slotsInEpoch);
        const schedule = await rpc.getEpochSchedule().send();
        assert.ok(schedule.slotsPerEpoch > 0n);
        assert.ok((await rpc.getFirstAvailableBlock().send()) >= 0n);
        assert.ok((await rpc.minimumLedgerSlot().send()) >= 0n);
    });

    test('a blockhash is valid until it expires', async () => {
        const { value } = await rpc.getLatestBlockhash({ commitment: 'confirmed' }).send();
        assert.ok(value.lastValidBlockHeight > 0n);
        const { value: valid } = await rpc.isBlockhashValid(value.blockhash, { commitment: 'confirmed' }).send();
        assert.equal(valid, true);
        const { value: stale } = await rpc
            .isBlockhashValid('11111111111111111111111111111111', { commitment: 'confirmed' })
            .send();
        assert.equal(stale, false);
    });

    test('fees: for a message, and recent priority fees', async () => {
        const compiled = compileTransactionMessage(
            await message(world.payer, [
                getTransferSolInstruction({ source: world.payer, destination: world.friend.address, amount: 1n }),
            ]),
        );
        const bytes = getCompiledTransactionMessageEncoder().encode(compiled);
        const { value: fee } = await rpc.getFeeForMessage(getBase64Decoder().decode(bytes)).send();
        assert.equal(fee, 5000n);
        const recent = await rpc.getRecentPrioritizationFees([world.payer.address]).send();
        assert.ok(Array.isArray(recent));
        for (const item of recent) {
            assert.equal(typeof item.slot, 'bigint');
            assert.equal(typeof item.prioritizationFee, 'bigint');
        }
    });
});

describe('a wallet', () => {
    test('an airdrop lands with a signature whose status can be asked', async () => {
        const { value } = await rpc.getSignatureStatuses([world.airdrop]).send();
        assert.equal(value[0].err, null);
        assert.ok(['confirmed', 'finalized'].includes(value[0].confirmationStatus));
        const { value: balance } = await rpc.getBalance(world.payer.address, { commitment: 'confirmed' }).send();
        assert.ok(balance > 9n * SOL && balance < 10n * SOL);
    });

    test('the SDK reads the mint and the token accounts it made', async () => {
        const mint = await fetchMint(rpc, world.mint.address);
        assert.equal(mint.data.decimals, DECIMALS);
        assert.equal(mint.data.supply, 1_000_000_000n);
        const token = await fetchToken(rpc, world.friendToken);
        assert.equal(token.data.amount, 250_000_000n);
        assert.equal(token.data.owner, world.friend.address);
        const payerToken = await fetchToken(rpc, world.payerToken);
        assert.equal(payerToken.data.delegatedAmount, 100_000_000n);
    });

    test('token balances, supply, accounts by owner and by delegate', async () => {
        const { value: balance } = await rpc.getTokenAccountBalance(world.friendToken).send();
        assert.deepEqual(balance, { amount: '250000000', decimals: 6, uiAmount: 250, uiAmountString: '250' });
        const { value: supply } = await rpc.getTokenSupply(world.mint.address).send();
        assert.equal(supply.amount, '1000000000');
        assert.equal(supply.uiAmountString, '1000');
        const { value: owned } = await rpc
            .getTokenAccountsByOwner(world.friend.address, { mint: world.mint.address }, { encoding: 'jsonParsed' })
            .send();
        assert.equal(owned.length, 1);
        assert.equal(owned[0].pubkey, world.friendToken);
        const info = owned[0].account.data.parsed.info;
        assert.equal(owned[0].account.data.program, 'spl-token');
        assert.equal(info.owner, world.friend.address);
        assert.equal(info.tokenAmount.amount, '250000000');
        assert.equal(info.state, 'initialized');
        const { value: delegated } = await rpc
            .getTokenAccountsByDelegate(
                world.delegate.address,
                { programId: TOKEN_PROGRAM_ADDRESS },
                { encoding: 'jsonParsed' },
            )
            .send();
        assert.deepEqual(
            delegated.map(a => a.pubkey),
            [world.payerToken],
        );
        assert.equal(delegated[0].account.data.parsed.info.delegatedAmount.amount, '100000000');
    });

    test('several accounts at once, in base64 and jsonParsed', async () => {
        const missing = (await generateKeyPairSigner()).address;
        const { value } = await rpc
            .getMultipleAccounts([world.mint.address, world.payerToken, missing], { encoding: 'jsonParsed' })
            .send();
        assert.equal(value[0].data.parsed.type, 'mint');
        assert.equal(value[0].data.parsed.info.mintAuthority, world.payer.address);
        assert.equal(value[1].data.parsed.type, 'account');
        assert.equal(value[2], null);
        const { value: raw } = await rpc.getMultipleAccounts([world.mint.address], { encoding: 'base64' }).send();
        assert.equal(raw[0].data[1], 'base64');
        assert.equal(raw[0].space, BigInt(getMintSize()));
    });

    test('the compute units a transaction needs, by simulation', async () => {
        const units = await estimateComputeUnitLimit(
            await message(world.payer, [
                getTransferCheckedInstruction({
                    source: world.payerToken,
                    mint: world.mint.address,
                    destination: world.friendToken,
                    authority: world.payer,
                    amount: 1n,
                    decimals: DECIMALS,
                }),
            ]),
        );
        assert.ok(units > 0 && units < 200_000, `estimated ${units} units`);
    });

    test('a failing transfer is refused by the preflight, with the program error', async () => {
        const tooMuch = getTransferCheckedInstruction({
            source: world.friendToken,
            mint: world.mint.address,
            destination: world.payerToken,
            authority: world.friend,
            amount: 999_000_000_000n,
            decimals: DECIMALS,
        });
        const signed = await signTransactionMessageWithSigners(await message(world.payer, [tooMuch]));
        await assert.rejects(sendAndConfirm(signed, { commitment: 'confirmed' }), error => {
            assert.ok(
                isSolanaError(error, SOLANA_ERROR__JSON_RPC__SERVER_ERROR_SEND_TRANSACTION_PREFLIGHT_FAILURE),
                String(error),
            );
            assert.ok(isSolanaError(error.cause, SOLANA_ERROR__INSTRUCTION_ERROR__CUSTOM), String(error.cause));
            assert.equal(error.cause.context.code, 1); // the token program's InsufficientFunds
            assert.equal(error.cause.context.index, 0);
            assert.ok(error.context.logs.some(line => line.includes('insufficient funds')));
            return true;
        });
        const { value } = await rpc.getSignatureStatuses([getSignatureFromTransaction(signed)]).send();
        assert.equal(value[0], null); // nothing landed
    });

    test('an account left below rent exemption fails as InsufficientFundsForRent', async () => {
        const nobody = await generateKeyPairSigner();
        const dust = getTransferSolInstruction({ source: world.payer, destination: nobody.address, amount: 1n });
        const signed = await signTransactionMessageWithSigners(await message(world.payer, [dust]));
        await assert.rejects(sendAndConfirm(signed, { commitment: 'confirmed' }), error => {
            assert.ok(isSolanaError(error.cause, SOLANA_ERROR__TRANSACTION_ERROR__INSUFFICIENT_FUNDS_FOR_RENT));
            assert.equal(error.cause.context.accountIndex, 1);
            return true;
        });
    });

    test('an account subscription tells of a new balance', async () => {
        const abort = new AbortController();
        const notifications = await rpcSubscriptions
            .accountNotifications(world.friendToken, { commitment: 'confirmed', encoding: 'jsonParsed' })
            .subscribe({ abortSignal: abort.signal });
        try {
            const sent = send(world.payer, [
                getTransferCheckedInstruction({
                    source: world.payerToken,
                    mint: world.mint.address,
                    destination: world.friendToken,
                    authority: world.payer,
                    amount: 5n,
                    decimals: DECIMALS,
                }),
            ]);
            for await (const notification of notifications) {
                const amount = notification.value.data.parsed.info.tokenAmount.amount;
                if (amount === '250000005') break;
            }
            await sent;
        } finally {
            abort.abort();
        }
    });
});

describe('an explorer', () => {
    test('a transaction in jsonParsed: token and memo instructions parsed', async () => {
        const tx = await getTransaction(world.transfer, 'jsonParsed');
        assert.equal(tx.version, 0);
        const [transfer, memo] = tx.transaction.message.instructions;
        assert.equal(transfer.program, 'spl-token');
        assert.equal(transfer.parsed.type, 'transferChecked');
        // Numbers in parsed instructions come as bigints where integral (the SDK's doing).
        const amount = transfer.parsed.info.tokenAmount;
        assert.equal(amount.amount, '250000000');
        assert.equal(Number(amount.decimals), DECIMALS);
        assert.equal(Number(amount.uiAmount), 250);
        assert.equal(amount.uiAmountString, '250');
        assert.equal(transfer.parsed.info.source, world.payerToken);
        assert.equal(transfer.parsed.info.destination, world.friendToken);
        assert.equal(transfer.parsed.info.authority, world.payer.address);
        assert.equal(memo.program, 'spl-memo');
        assert.equal(memo.parsed, MEMO_TEXT);
        const keys = tx.transaction.message.accountKeys;
        assert.deepEqual(keys[0], { pubkey: world.payer.address, signer: true, source: 'transaction', writable: true });
    });

    test('the associated token account program and its inner instructions, parsed', async () => {
        const tx = await getTransaction(world.createAccounts, 'jsonParsed');
        const [create] = tx.transaction.message.instructions;
        assert.equal(create.program, 'spl-associated-token-account');
        assert.equal(create.parsed.type, 'createIdempotent');
        assert.equal(create.parsed.info.wallet, world.payer.address);
        const inner = tx.meta.innerInstructions.find(i => i.index === 0);
        assert.ok(inner, 'the ATA program invokes the system and token programs');
        const types = inner.instructions.map(i => i.parsed?.type);
        assert.ok(types.includes('initializeAccount3'), types.join());
        assert.ok(inner.instructions.every(i => i.stackHeight === 2));
    });

    test('the full status meta: balances, token balances, logs, compute units, time', async () => {
        const tx = await getTransaction(world.transfer, 'json');
        const keys = tx.transaction.message.accountKeys;
        assert.equal(tx.meta.err, null);
        assert.equal(tx.meta.fee, 5000n);
        assert.equal(tx.meta.preBalances.length, keys.length);
        assert.equal(tx.meta.postBalances.length, keys.length);
        assert.equal(tx.meta.preBalances[0] - tx.meta.postBalances[0], 5000n);
        const friendIndex = keys.indexOf(world.friendToken);
        const pre = tx.meta.preTokenBalances.find(b => b.accountIndex === friendIndex);
        const post = tx.meta.postTokenBalances.find(b => b.accountIndex === friendIndex);
        assert.equal(pre.uiTokenAmount.amount, '0');
        assert.equal(post.uiTokenAmount.amount, '250000000');
        assert.equal(post.owner, world.friend.address);
        assert.equal(post.mint, world.mint.address);
        assert.equal(post.programId, TOKEN_PROGRAM_ADDRESS);
        assert.ok(tx.meta.logMessages.some(line => line.includes(MEMO_TEXT)));
        assert.ok(tx.meta.computeUnitsConsumed > 0n);
        assert.equal(typeof tx.blockTime, 'bigint');
        assert.deepEqual(tx.meta.loadedAddresses, { readonly: [], writable: [] });
        const raw = await getTransaction(world.transfer, 'base64');
        assert.equal(raw.transaction[1], 'base64');
        assert.equal(raw.slot, tx.slot);
    });

    test('signature lists carry the memo and the block time', async () => {
        const list = await rpc.getSignaturesForAddress(world.friendToken, { limit: 10 }).send();
        const found = list.find(s => s.signature === world.transfer);
        assert.ok(found, 'the transfer names the account');
        assert.equal(found.memo, `[${MEMO_TEXT.length}] ${MEMO_TEXT}`);
        assert.equal(typeof found.blockTime, 'bigint');
        assert.equal(found.err, null);
        const older = await rpc
            .getSignaturesForAddress(world.friendToken, { before: list[0].signature, limit: 10 })
            .send();
        assert.ok(!older.some(s => s.signature === list[0].signature));
    });

    test('the block of a transaction, and the blocks around it', async () => {
        const { slot } = await getTransaction(world.transfer, 'json');
        const block = await rpc
            .getBlock(slot, { maxSupportedTransactionVersion: 0, transactionDetails: 'full', rewards: false })
            .send();
        const signatures = block.transactions.map(t => t.transaction.signatures[0]);
        assert.ok(signatures.includes(world.transfer));
        assert.ok(block.parentSlot < slot);
        assert.equal(typeof block.blockhash, 'string');
        assert.equal(typeof block.previousBlockhash, 'string');
        const time = await rpc.getBlockTime(slot).send();
        assert.equal(time, block.blockTime);
        const slots = await rpc.getBlocks(slot - 1n, slot).send();
        assert.ok(slots.includes(slot));
        const limited = await rpc.getBlocksWithLimit(slot, 1).send();
        assert.deepEqual(limited, [slot]);
        const bare = await rpc.getBlock(slot, { maxSupportedTransactionVersion: 0, transactionDetails: 'signatures' }).send();
        assert.ok(bare.signatures.includes(world.transfer));
    });
});

describe('an auditor', () => {
    test('program accounts with dataSize and memcmp filters, in jsonParsed', async () => {
        const accounts = await rpc
            .getProgramAccounts(TOKEN_PROGRAM_ADDRESS, {
                encoding: 'jsonParsed',
                filters: [
                    { dataSize: 165n },
                    { memcmp: { offset: 0n, bytes: world.mint.address, encoding: 'base58' } },
                ],
            })
            .send();
        const addresses = accounts.map(a => a.pubkey).sort();
        assert.deepEqual(addresses, [world.payerToken, world.friendToken].sort());
        for (const { account } of accounts) assert.equal(account.data.parsed.info.mint, world.mint.address);
        const byOwner = await rpc
            .getProgramAccounts(TOKEN_PROGRAM_ADDRESS, {
                encoding: 'base64',
                filters: [{ dataSize: 165n }, { memcmp: { offset: 32n, bytes: world.friend.address, encoding: 'base58' } }],
            })
            .send();
        assert.deepEqual(
            byOwner.map(a => a.pubkey),
            [world.friendToken],
        );
    });

    test('the largest holders of a mint', async () => {
        const { value } = await rpc.getLargestTokenAccounts(world.mint.address).send();
        assert.equal(value[0].address, world.payerToken);
        assert.equal(value[1].address, world.friendToken);
        assert.ok(BigInt(value[0].amount) > BigInt(value[1].amount));
    });
});

describe('the GridTokenX deployment', () => {
    test('its attestation memos are listed with the oracle', { skip: NEEDS_FIXTURE }, async () => {
        const list = await rpc.getSignaturesForAddress(address(FIXTURE.oracle), { limit: 50 }).send();
        const attestation = list.find(s => s.signature === FIXTURE.attestation);
        assert.ok(attestation);
        assert.match(attestation.memo, /^\[\d+\] gtx\/v1 attest epoch=1 root=[0-9a-f]{64}$/);
    });

    test('a settlement: a p-token batch of transfers, parsed, with token balances', { skip: NEEDS_FIXTURE }, async () => {
        const tx = await getTransaction(FIXTURE.settlement, 'jsonParsed');
        const instructions = tx.transaction.message.instructions;
        const memo = instructions.find(i => i.program === 'spl-memo');
        assert.equal(memo.parsed, 'gtx/v1 settle epoch=1');
        const batch = instructions.find(i => i.program === 'spl-token');
        assert.equal(batch.parsed.type, 'batch');
        const transfers = batch.parsed.info.instructions;
        assert.ok(transfers.length >= 2);
        for (const transfer of transfers) {
            assert.equal(transfer.type, 'transferChecked');
            assert.equal(transfer.info.authority, FIXTURE.settlement_authority);
        }
        assert.ok(tx.meta.preTokenBalances.length >= 4);
        const buyer = tx.meta.postTokenBalances.find(b => b.owner === FIXTURE.buyer && b.mint === FIXTURE.energy_mint);
        assert.equal(buyer.uiTokenAmount.amount, String(FIXTURE.bought));
        assert.equal(buyer.uiTokenAmount.decimals, 9);
    });

    test('the energy supply matches what was minted', { skip: NEEDS_FIXTURE }, async () => {
        const { value } = await rpc.getTokenSupply(address(FIXTURE.energy_mint)).send();
        assert.equal(value.amount, String(FIXTURE.minted));
    });
});

describe('the embedded ledger itself', () => {
    test('served read-only: sendTransaction and requestAirdrop are refused', { skip: ONLY_EMBEDDED || (!READONLY_URL && 'needs GTX_READONLY_RPC_URL') }, async () => {
        const readonly = createSolanaRpc(READONLY_URL);
        const signed = await signTransactionMessageWithSigners(
            await message(world.payer, [
                getTransferSolInstruction({ source: world.payer, destination: world.friend.address, amount: 1n }),
            ]),
        );
        await assert.rejects(
            readonly.sendTransaction(getBase64EncodedWireTransaction(signed), { encoding: 'base64' }).send(),
            error => isSolanaError(error, SOLANA_ERROR__JSON_RPC__METHOD_NOT_FOUND),
        );
        await assert.rejects(
            readonly.requestAirdrop(world.friend.address, lamports(SOL)).send(),
            error => isSolanaError(error, SOLANA_ERROR__JSON_RPC__INVALID_REQUEST),
        );
        const { value } = await readonly.getBalance(world.payer.address).send();
        assert.ok(value > 0n, 'reads still work');
    });

    test('every status is final at once', { skip: ONLY_EMBEDDED }, async () => {
        const { value } = await rpc.getSignatureStatuses([world.transfer]).send();
        assert.equal(value[0].confirmationStatus, 'finalized');
        assert.equal(value[0].confirmations, null);
    });
});

describe('where a validator differs from the embedded ledger', () => {
    test('a fresh transaction is "processed" before it is "finalized"', { skip: ONLY_ON_A_VALIDATOR && 'every transaction is final when answered: one validator, no consensus' }, async () => {
        const signature = await send(world.payer, [
            getTransferSolInstruction({ source: world.payer, destination: world.friend.address, amount: 1_000_000n }),
        ]);
        const { value } = await rpc.getSignatureStatuses([signature]).send();
        assert.notEqual(value[0].confirmationStatus, 'finalized');
    });

    test("a block's hash can sign a transaction", { skip: ONLY_ON_A_VALIDATOR && 'blockhashes are issued by the ledger, not the hashes of its blocks' }, async () => {
        const { slot } = await getTransaction(world.transfer, 'json');
        const block = await rpc.getBlock(slot, { maxSupportedTransactionVersion: 0, transactionDetails: 'none' }).send();
        const { value } = await rpc.isBlockhashValid(block.blockhash, { commitment: 'confirmed' }).send();
        assert.equal(value, true);
    });

    test('the validator votes', { skip: ONLY_ON_A_VALIDATOR && 'no consensus: no votes, stake or rewards' }, async () => {
        const { current } = await rpc.getVoteAccounts().send();
        assert.ok(current.length > 0);
    });

    test('account data compressed with zstd', { skip: ONLY_ON_A_VALIDATOR && 'base64+zstd is not offered' }, async () => {
        const { value } = await rpc.getAccountInfo(world.mint.address, { encoding: 'base64+zstd' }).send();
        assert.equal(value.data[1], 'base64+zstd');
    });
});
