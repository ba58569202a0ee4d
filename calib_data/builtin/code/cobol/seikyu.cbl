      * SEIKYU : 受注ファイルから請求明細を作成する
      *   ・商品マスタは小規模なので定数表で持つ
      *   ・SEARCH ALL（二分探索）で商品コードを引く
      *   ・軽減税率 8% と標準税率 10% を商品ごとに区別する
      *   ・消費税は明細ごとに 1 円未満切り捨て
       IDENTIFICATION DIVISION.
       PROGRAM-ID. SEIKYU.
       ENVIRONMENT DIVISION.
       INPUT-OUTPUT SECTION.
       FILE-CONTROL.
           SELECT ORDER-FILE ASSIGN TO "ORDERS"
               ORGANIZATION IS LINE SEQUENTIAL.
           SELECT INV-FILE   ASSIGN TO "INVOICE"
               ORGANIZATION IS LINE SEQUENTIAL.
       DATA DIVISION.
       FILE SECTION.
       FD  ORDER-FILE.
       01  ORDER-REC.
           05  OR-ORDER-NO     PIC X(8).
           05  OR-CODE         PIC X(5).
           05  OR-QTY          PIC 9(4).
       FD  INV-FILE.
       01  INV-REC.
           05  IV-ORDER-NO     PIC X(8).
           05  IV-CODE         PIC X(5).
           05  IV-QTY          PIC 9(4).
           05  IV-RATE         PIC 99.
           05  IV-AMOUNT       PIC 9(9).
           05  IV-TAX          PIC 9(8).
       WORKING-STORAGE SECTION.
      * 商品表：コード(5) 単価(6) 税区分(1)  R=軽減 S=標準
      * SEARCH ALL のためコードの昇順に並べる
       01  PRODUCT-DATA.
           05  FILLER  PIC X(12) VALUE "A1001000128R".
           05  FILLER  PIC X(12) VALUE "A1002000098R".
           05  FILLER  PIC X(12) VALUE "B2001000450S".
           05  FILLER  PIC X(12) VALUE "B2002000320S".
           05  FILLER  PIC X(12) VALUE "C3001001980S".
           05  FILLER  PIC X(12) VALUE "C3005000060R".
       01  PRODUCT-TABLE REDEFINES PRODUCT-DATA.
           05  PT-ENTRY OCCURS 6 TIMES
                   ASCENDING KEY IS PT-CODE
                   INDEXED BY PX.
               10  PT-CODE     PIC X(5).
               10  PT-PRICE    PIC 9(6).
               10  PT-TAXCAT   PIC X.
                   88  PT-REDUCED        VALUE "R".
       01  WS-EOF              PIC X     VALUE "N".
       01  WS-AMOUNT           PIC 9(9).
       01  WS-SUMMARY.
           05  SUM-BASE-08     PIC 9(11) VALUE ZERO.
           05  SUM-TAX-08      PIC 9(10) VALUE ZERO.
           05  SUM-BASE-10     PIC 9(11) VALUE ZERO.
           05  SUM-TAX-10      PIC 9(10) VALUE ZERO.
           05  CNT-ERROR       PIC 9(5)  VALUE ZERO.

       PROCEDURE DIVISION.
       MAIN-PROC.
           OPEN INPUT ORDER-FILE OUTPUT INV-FILE
           PERFORM UNTIL WS-EOF = "Y"
               READ ORDER-FILE
                   AT END MOVE "Y" TO WS-EOF
                   NOT AT END PERFORM LOOKUP-AND-BILL
               END-READ
           END-PERFORM
           CLOSE ORDER-FILE INV-FILE
           DISPLAY "8%  対象 " SUM-BASE-08 " 税 " SUM-TAX-08
           DISPLAY "10% 対象 " SUM-BASE-10 " 税 " SUM-TAX-10
           DISPLAY "エラー件数 " CNT-ERROR
           STOP RUN.

       LOOKUP-AND-BILL.
           SEARCH ALL PT-ENTRY
               AT END
                   ADD 1 TO CNT-ERROR
                   DISPLAY "商品コード不明: " OR-CODE
               WHEN PT-CODE (PX) = OR-CODE
                   PERFORM WRITE-INVOICE
           END-SEARCH.

       WRITE-INVOICE.
           COMPUTE WS-AMOUNT = PT-PRICE (PX) * OR-QTY
           MOVE OR-ORDER-NO TO IV-ORDER-NO
           MOVE OR-CODE     TO IV-CODE
           MOVE OR-QTY      TO IV-QTY
           MOVE WS-AMOUNT   TO IV-AMOUNT
      * ROUNDED を付けない COMPUTE は切り捨てになる
           IF PT-REDUCED (PX)
               MOVE 8 TO IV-RATE
               COMPUTE IV-TAX = WS-AMOUNT * 8 / 100
               ADD WS-AMOUNT TO SUM-BASE-08
               ADD IV-TAX    TO SUM-TAX-08
           ELSE
               MOVE 10 TO IV-RATE
               COMPUTE IV-TAX = WS-AMOUNT * 10 / 100
               ADD WS-AMOUNT TO SUM-BASE-10
               ADD IV-TAX    TO SUM-TAX-10
           END-IF
           WRITE INV-REC.
